// One live libpcap capture: opened and activated on the JavaScript thread (so option
// and filter errors throw synchronously), then read by a thread of its own that hands
// frames to JavaScript in batches through a thread-safe function. The JS event loop
// never sets the pace of capture: if JavaScript falls behind, batches queue (bounded),
// and beyond that the kernel buffer fills and libpcap counts drops, which stats() shows.
#pragma once

#include <napi.h>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ackscope {

// What the capture thread sends to JavaScript: a batch of frames, or the error that ended it.
struct CaptureEvent {
  std::vector<uint8_t> records;  // see the record layout in live_capture.cc
  uint32_t frames = 0;
  bool isError = false;
  std::string message;
};

class LiveCapture;
void DeliverEvent(Napi::Env env, Napi::Function unused, LiveCapture* capture, CaptureEvent* event);
void CaptureThreadFinished(Napi::Env env, void* unused, LiveCapture* capture);
using EventFunction = Napi::TypedThreadSafeFunction<LiveCapture, CaptureEvent, DeliverEvent>;

class LiveCapture : public Napi::ObjectWrap<LiveCapture> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new LiveCapture(device, snaplen, bufferSize, immediate, timeoutMs, filter,
  //                 batchFrames, batchBytes, batchDelayMs, queueBatches, onBatch, onError, onEnd)
  explicit LiveCapture(const Napi::CallbackInfo& info);
  ~LiveCapture() override;

 private:
  friend void DeliverEvent(Napi::Env, Napi::Function, LiveCapture*, CaptureEvent*);
  friend void CaptureThreadFinished(Napi::Env, void*, LiveCapture*);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Datalink(const Napi::CallbackInfo& info);
  Napi::Value Snaplen(const Napi::CallbackInfo& info);

  static void OnPacket(u_char* user, const struct pcap_pkthdr* header, const u_char* bytes);
  void Append(const struct pcap_pkthdr* header, const u_char* bytes);
  bool Flush();  // false when JavaScript is gone (the function was aborted)
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

  EventFunction events_;
  Napi::FunctionReference onBatch_, onError_, onEnd_;
  std::vector<Napi::Promise::Deferred> closeWaiters_;
};

}  // namespace ackscope
