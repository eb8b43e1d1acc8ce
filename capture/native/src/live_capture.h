// One live libpcap capture: opened and activated on the JavaScript thread (so option
// and filter errors throw synchronously), then read by a thread of its own that hands
// frames to JavaScript in batches. The JS event loop never sets the pace of capture:
// the thread queues batches (bounded), and beyond that it waits, the kernel buffer fills
// and libpcap counts drops, which stats() shows. JavaScript pulls the queued batches
// with take(), one per turn of its event loop (capture/native/index.ts), after a wake-up
// through a thread-safe function: a thread-safe function that carried the batches
// themselves would run its callback for every queued batch in one go (Node dispatches up
// to 1000 calls per wake-up, and the thread keeps refilling the queue), so under
// sustained load JavaScript never returned to its event loop: no timer ran, and the
// Buffers JavaScript had dropped were never freed (Node frees an external Buffer's bytes
// from the event loop), 400 MiB in a minute (docs/operations.md, "Soak").
#pragma once

#include <napi.h>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ackscope {

// What the capture thread queues for JavaScript: a batch of frames, or the error that ended it.
struct CaptureEvent {
  std::vector<uint8_t> records;  // see the record layout in live_capture.cc
  uint32_t frames = 0;
  bool isError = false;
  std::string message;
};

class LiveCapture;
// The thread-safe function only wakes JavaScript up (no data: always nullptr).
void DeliverWakeUp(Napi::Env env, Napi::Function unused, LiveCapture* capture, std::nullptr_t* unusedData);
void CaptureThreadFinished(Napi::Env env, void* unused, LiveCapture* capture);
using WakeFunction = Napi::TypedThreadSafeFunction<LiveCapture, std::nullptr_t, DeliverWakeUp>;

class LiveCapture : public Napi::ObjectWrap<LiveCapture> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new LiveCapture(device, snaplen, bufferSize, immediate, timeoutMs, filter,
  //                 batchFrames, batchBytes, batchDelayMs, queueBatches, onReady, onEnd)
  // onReady(): something was queued since take() last found the queue empty.
  // onEnd(): the thread stopped; what it queued before is still there for take().
  explicit LiveCapture(const Napi::CallbackInfo& info);
  ~LiveCapture() override;

 private:
  friend void DeliverWakeUp(Napi::Env, Napi::Function, LiveCapture*, std::nullptr_t*);
  friend void CaptureThreadFinished(Napi::Env, void*, LiveCapture*);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Take(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Datalink(const Napi::CallbackInfo& info);
  Napi::Value Snaplen(const Napi::CallbackInfo& info);

  static void OnPacket(u_char* user, const struct pcap_pkthdr* header, const u_char* bytes);
  void Append(const struct pcap_pkthdr* header, const u_char* bytes);
  bool Flush();  // false when JavaScript is gone (the function was aborted)
  bool Enqueue(std::unique_ptr<CaptureEvent> event);  // waits while the batch queue is full
  void Run();
  void Drain();
  bool BoundInterfaceGone() const;
  void RequestStop();
  void Finish(Napi::Env env);

  pcap_t* handle_ = nullptr;
  int captureFd_ = -1;
  bool boundToInterface_ = false;  // false for "any": an unbound socket has no device to lose
  int wakePipe_[2] = {-1, -1};  // close() writes a byte: the thread's poll() returns
  int linkType_ = 0;
  int snaplen_ = 0;

  // Batch bounds: a batch is handed over when any is reached.
  uint32_t batchFrames_;
  size_t batchBytes_;
  std::chrono::milliseconds batchDelay_;
  std::chrono::milliseconds timeout_{0};
  size_t queueBatches_ = 64;

  // Between the capture thread (producer) and take() on the JavaScript thread.
  std::mutex queueMutex_;
  std::condition_variable queueSpace_;
  std::deque<std::unique_ptr<CaptureEvent>> queue_;
  size_t queuedBatches_ = 0;  // batches in queue_ (the error event is not bounded)
  bool wakeSent_ = false;     // a wake-up is on its way or JavaScript is taking
  bool abandoned_ = false;    // JavaScript is gone: the thread stops waiting for room

  std::vector<uint8_t> batch_;
  uint32_t batchCount_ = 0;
  std::chrono::steady_clock::time_point batchStarted_;
  bool deliveryClosed_ = false;

  std::thread thread_;
  std::atomic<bool> stopRequested_{false};
  bool started_ = false;
  bool finished_ = false;

  std::mutex statsMutex_;  // pcap_stats from JS vs. the thread's final read
  struct pcap_stat finalStats_ {};
  bool haveFinalStats_ = false;

  WakeFunction wakeUp_;
  Napi::FunctionReference onReady_, onEnd_;
  std::vector<Napi::Promise::Deferred> closeWaiters_;
};

}  // namespace ackscope
