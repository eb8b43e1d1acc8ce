#include "live_capture.h"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "errors.h"

namespace ackscope {

// Record layout inside a batch Buffer, little-endian, each record 8-byte aligned:
//   u64 timestamp (epoch ns, libpcap's kernel stamp at nanosecond precision)
//   u32 captured length, u32 original length on the wire
//   captured bytes, then zero padding to the next multiple of 8
constexpr size_t kRecordHeader = 16;
// How often an idle capture asks whether its interface still exists (see Run).
constexpr std::chrono::milliseconds kDeviceCheckEvery{250};

namespace {

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) throw MakeError(info.Env(), kKindArgument, "argument " + std::to_string(i) + ": string expected");
  return info[i].As<Napi::String>().Utf8Value();
}
int64_t IntArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw MakeError(info.Env(), kKindArgument, "argument " + std::to_string(i) + ": number expected");
  return info[i].As<Napi::Number>().Int64Value();
}
Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsFunction()) throw MakeError(info.Env(), kKindArgument, "argument " + std::to_string(i) + ": function expected");
  return info[i].As<Napi::Function>();
}

}  // namespace

Napi::Function LiveCapture::Define(Napi::Env env) {
  return DefineClass(env, "LiveCapture",
                     {
                         InstanceMethod("start", &LiveCapture::Start),
                         InstanceMethod("stats", &LiveCapture::Stats),
                         InstanceMethod("take", &LiveCapture::Take),
                         InstanceMethod("close", &LiveCapture::Close),
                         InstanceMethod("datalink", &LiveCapture::Datalink),
                         InstanceMethod("snaplen", &LiveCapture::Snaplen),
                     });
}

LiveCapture::LiveCapture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LiveCapture>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 12) throw MakeError(env, kKindArgument, "LiveCapture: 12 arguments expected");
  std::string device = StringArg(info, 0);
  int snaplen = static_cast<int>(IntArg(info, 1));
  int bufferSize = static_cast<int>(IntArg(info, 2));
  bool immediate = info[3].ToBoolean().Value();
  int timeoutMs = static_cast<int>(IntArg(info, 4));
  timeout_ = std::chrono::milliseconds(timeoutMs);
  std::string filter = StringArg(info, 5);
  batchFrames_ = static_cast<uint32_t>(IntArg(info, 6));
  batchBytes_ = static_cast<size_t>(IntArg(info, 7));
  batchDelay_ = std::chrono::milliseconds(IntArg(info, 8));
  queueBatches_ = static_cast<size_t>(IntArg(info, 9));
  onReady_ = Napi::Persistent(FunctionArg(info, 10));
  onEnd_ = Napi::Persistent(FunctionArg(info, 11));

  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  handle_ = pcap_create(device.c_str(), errbuf);
  if (handle_ == nullptr) throw MakeError(env, kKindFailed, errbuf);

  // Every failure below closes the handle before throwing.
  auto fail = [&](const char* kind, const std::string& message, int status) {
    pcap_close(handle_);
    handle_ = nullptr;
    throw MakeError(env, kind, message, status);
  };
  auto check = [&](int status, const char* what) {
    if (status != 0) fail(KindForPcapStatus(status), std::string(what) + ": " + pcap_statustostr(status), status);
  };
  check(pcap_set_snaplen(handle_, snaplen), "pcap_set_snaplen");
  check(pcap_set_buffer_size(handle_, bufferSize), "pcap_set_buffer_size");
  check(pcap_set_immediate_mode(handle_, immediate ? 1 : 0), "pcap_set_immediate_mode");
  check(pcap_set_timeout(handle_, timeoutMs), "pcap_set_timeout");
  // Frame times must be the kernel's, to the nanosecond (docs/design-notes.md, "Time").
  int precision = pcap_set_tstamp_precision(handle_, PCAP_TSTAMP_PRECISION_NANO);
  if (precision != 0) {
    fail(kKindFailed,
         "libpcap cannot give nanosecond timestamps on " + device + " (" + pcap_statustostr(precision) +
             "); ackscope needs them",
         precision);
  }

  int status = pcap_activate(handle_);
  if (status < 0) {
    // libpcap's own text (pcap_geterr) says which device and why; the status names the class.
    std::string detail = pcap_geterr(handle_);
    std::string message = std::string(pcap_statustostr(status));
    if (!detail.empty()) message = detail;
    fail(KindForPcapStatus(status), message, status);
  }
  // Warnings (status > 0) such as PCAP_WARNING_TSTAMP_TYPE_NOTSUP do not stop the capture.
  if (pcap_get_tstamp_precision(handle_) != PCAP_TSTAMP_PRECISION_NANO) {
    fail(kKindFailed, "libpcap activated " + device + " without nanosecond timestamps; ackscope needs them", 0);
  }
  linkType_ = pcap_datalink(handle_);
  snaplen_ = pcap_snapshot(handle_);

  // The capture thread polls the socket itself (see Run), so reads never block.
  if (pcap_setnonblock(handle_, 1, errbuf) != 0) fail(kKindFailed, errbuf, 0);
  captureFd_ = pcap_get_selectable_fd(handle_);
  if (captureFd_ < 0) fail(kKindUnsupported, "libpcap gives no pollable descriptor for " + device, 0);
  {
    struct sockaddr_ll bound {};
    socklen_t length = sizeof bound;
    boundToInterface_ = getsockname(captureFd_, reinterpret_cast<struct sockaddr*>(&bound), &length) == 0 &&
                        bound.sll_family == AF_PACKET && bound.sll_ifindex > 0;
  }

  if (!filter.empty()) {
    struct bpf_program program;
    if (pcap_compile(handle_, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      fail(kKindFilter, pcap_geterr(handle_), 0);
    }
    int set = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    if (set != 0) fail(kKindFilter, pcap_geterr(handle_), 0);
  }
  // Last, so no failure above leaves the pipe open (a throwing constructor has no destructor).
  if (pipe(wakePipe_) != 0) fail(kKindFailed, std::string("pipe: ") + std::strerror(errno), 0);
  fcntl(wakePipe_[0], F_SETFL, O_NONBLOCK);
  fcntl(wakePipe_[1], F_SETFL, O_NONBLOCK);
}

LiveCapture::~LiveCapture() {
  // Only reachable when never started or fully finished (start() holds a reference).
  if (thread_.joinable()) {
    RequestStop();
    thread_.join();
  }
  if (handle_ != nullptr) pcap_close(handle_);
  for (int fd : wakePipe_) {
    if (fd >= 0) close(fd);
  }
}

// Wakes the capture thread out of poll() (and out of pcap_dispatch) to finish.
void LiveCapture::RequestStop() {
  if (stopRequested_.exchange(true)) return;
  if (handle_ != nullptr) pcap_breakloop(handle_);
  if (wakePipe_[1] >= 0) {
    char byte = 1;
    ssize_t written = write(wakePipe_[1], &byte, 1);
    (void)written;  // a full pipe already wakes the thread
  }
}

Napi::Value LiveCapture::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw MakeError(env, kKindArgument, "capture already started");
  if (handle_ == nullptr) throw MakeError(env, kKindArgument, "capture is closed");
  started_ = true;
  // No JS function on the TSFN itself: DeliverWakeUp calls onReady from `this`. Unbounded
  // queue (0): wakeSent_ keeps at most one wake-up in it. It keeps the event loop alive
  // until CaptureThreadFinished, which runs after the thread released it.
  wakeUp_ = WakeFunction::New(env, Napi::Function(), "ackscope-capture", 0, 1, this, CaptureThreadFinished,
                              static_cast<void*>(nullptr));
  Ref();  // alive until the thread has finished and every batch was delivered
  batch_.reserve(batchBytes_ + 65536 + kRecordHeader);
  thread_ = std::thread([this] { Run(); });
  return env.Undefined();
}

void LiveCapture::OnPacket(u_char* user, const struct pcap_pkthdr* header, const u_char* bytes) {
  reinterpret_cast<LiveCapture*>(user)->Append(header, bytes);
}

void LiveCapture::Append(const struct pcap_pkthdr* header, const u_char* bytes) {
  if (batchCount_ == 0) batchStarted_ = std::chrono::steady_clock::now();
  size_t caplen = header->caplen;
  size_t padded = (kRecordHeader + caplen + 7) & ~static_cast<size_t>(7);
  size_t at = batch_.size();
  batch_.resize(at + padded);
  uint8_t* p = batch_.data() + at;
  // With PCAP_TSTAMP_PRECISION_NANO, ts.tv_usec holds nanoseconds.
  uint64_t ns = static_cast<uint64_t>(header->ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(header->ts.tv_usec);
  PutU64(p, ns);
  PutU32(p + 8, header->caplen);
  PutU32(p + 12, header->len);
  std::memcpy(p + kRecordHeader, bytes, caplen);
  std::memset(p + kRecordHeader + caplen, 0, padded - kRecordHeader - caplen);
  batchCount_++;
  if (batchCount_ >= batchFrames_ || batch_.size() >= batchBytes_) {
    if (!Flush()) pcap_breakloop(handle_);
  }
}

bool LiveCapture::Flush() {
  if (batchCount_ == 0) return !deliveryClosed_;
  if (deliveryClosed_) {
    batch_.clear();
    batchCount_ = 0;
    return false;
  }
  auto event = std::make_unique<CaptureEvent>();
  event->records.swap(batch_);
  event->frames = batchCount_;
  batchCount_ = 0;
  batch_.reserve(batchBytes_ + 65536 + kRecordHeader);
  if (!Enqueue(std::move(event))) {
    deliveryClosed_ = true;
    return false;
  }
  return true;
}

// Blocking: when JavaScript is `queueBatches` behind, the thread waits here and the
// kernel buffer absorbs the burst; beyond it the kernel drops, and stats() counts them.
// The process never holds more than queueBatches batches JavaScript has not taken.
bool LiveCapture::Enqueue(std::unique_ptr<CaptureEvent> event) {
  bool wake = false;
  {
    std::unique_lock<std::mutex> lock(queueMutex_);
    if (!event->isError) {
      queueSpace_.wait(lock, [this] { return queuedBatches_ < queueBatches_ || abandoned_; });
      queuedBatches_++;
    }
    if (abandoned_) return false;
    queue_.push_back(std::move(event));
    wake = !wakeSent_;
    wakeSent_ = true;
  }
  if (wake && wakeUp_.NonBlockingCall(static_cast<std::nullptr_t*>(nullptr)) != napi_ok) {
    std::lock_guard<std::mutex> lock(queueMutex_);
    abandoned_ = true;  // the environment is going away: nobody will take
    return false;
  }
  return true;
}

// The read loop. The handle is non-blocking and the thread waits in its own poll() on
// the capture socket and the wake pipe, with a timeout set by the oldest frame of the
// pending batch: a batch is handed over when full or batchDelay after its first frame,
// even when no further frame ever comes (a blocking pcap_dispatch would sit on it).
void LiveCapture::Run() {
  std::string error;
  int quietErrors = 0;
  auto lastDeviceCheck = std::chrono::steady_clock::now();
  while (!stopRequested_.load() && !deliveryClosed_) {
    int n = pcap_dispatch(handle_, -1, &LiveCapture::OnPacket, reinterpret_cast<u_char*>(this));
    if (n == PCAP_ERROR) {
      error = pcap_geterr(handle_);
      if (error.empty()) error = "libpcap read failed";
      break;
    }
    if (deliveryClosed_) break;
    int waitMs = boundToInterface_ ? static_cast<int>(kDeviceCheckEvery.count()) : -1;
    if (batchCount_ > 0) {
      auto left = batchDelay_ - std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - batchStarted_);
      if (left.count() <= 0) {
        if (!Flush()) break;
      } else {
        waitMs = waitMs < 0 ? static_cast<int>(left.count()) : std::min(waitMs, static_cast<int>(left.count()));
      }
    }
    if (n > 0) continue;  // the ring may hold more: read until it is empty

    struct pollfd fds[2] = {{captureFd_, POLLIN, 0}, {wakePipe_[0], POLLIN, 0}};
    int ready = poll(fds, 2, waitMs);
    if (ready < 0 && errno != EINTR) {
      error = std::string("poll on the capture socket failed: ") + std::strerror(errno);
      break;
    }
    if (fds[1].revents != 0) break;  // close() asked
    if (fds[0].revents & POLLNVAL) {
      error = "the capture socket was closed under the capture";
      break;
    }
    // POLLERR/POLLHUP: the next pcap_dispatch lets libpcap say what happened (e.g. "The
    // interface disappeared"); if it finds nothing to report, do not spin on the flag.
    if (fds[0].revents & (POLLERR | POLLHUP)) {
      if (++quietErrors > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      quietErrors = 0;
    }
    // libpcap reports a vanished device only if it reads the socket's ENETDOWN after the
    // kernel unbound it. Deleting an interface first takes it down (ENETDOWN, device still
    // bound: libpcap reads it as "went down" and goes on) and unbinds it later, without a
    // second error, so under load the capture would wait forever. Ask the socket.
    auto now = std::chrono::steady_clock::now();
    if (boundToInterface_ && now - lastDeviceCheck >= kDeviceCheckEvery) {
      lastDeviceCheck = now;
      if (BoundInterfaceGone()) {
        error = "The interface disappeared";
        break;
      }
    }
  }
  if (error.empty() && !deliveryClosed_) Drain();
  Flush();  // every frame already read reaches JavaScript before the end
  {
    std::lock_guard<std::mutex> lock(statsMutex_);
    haveFinalStats_ = pcap_stats(handle_, &finalStats_) == 0;
  }
  if (!error.empty() && !deliveryClosed_) {
    auto event = std::make_unique<CaptureEvent>();
    event->isError = true;
    event->message = error;
    Enqueue(std::move(event));  // after every batch: take() hands it out last
  }
  wakeUp_.Release();  // CaptureThreadFinished runs on the JS thread after the last wake-up
}

// The kernel sets the packet socket's bound ifindex to -1 when its device unregisters.
bool LiveCapture::BoundInterfaceGone() const {
  struct sockaddr_ll bound {};
  socklen_t length = sizeof bound;
  if (getsockname(captureFd_, reinterpret_cast<struct sockaddr*>(&bound), &length) != 0) return false;
  return bound.sll_ifindex == -1;
}

// After close(): read what the kernel captured before the stop. With TPACKET_V3 a
// partly filled ring block is handed to user space only when the kernel retires it,
// after the read timeout, so read without blocking for that long (plus a margin).
void LiveCapture::Drain() {
  auto deadline = std::chrono::steady_clock::now() + 2 * timeout_ + std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < deadline && !deliveryClosed_) {
    int n = pcap_dispatch(handle_, -1, &LiveCapture::OnPacket, reinterpret_cast<u_char*>(this));
    if (n == PCAP_ERROR) break;
    if (n <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {

// Calls a JavaScript callback from the event or end path. An exception it throws stays a
// JavaScript exception (Node reports it as uncaught) instead of a C++ exception
// unwinding through libuv.
void CallBack(Napi::Function fn, std::initializer_list<napi_value> args) {
  try {
    fn.Call(args);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
}

}  // namespace

void DeliverWakeUp(Napi::Env env, Napi::Function, LiveCapture* capture, std::nullptr_t*) {
  if (env == nullptr) return;  // the environment is going away: nothing to wake
  Napi::HandleScope scope(env);
  if (!capture->onReady_.IsEmpty()) CallBack(capture->onReady_.Value(), {});
}

// The oldest queued event: { records: Buffer, frames } or { error: Error }; null when the
// queue is empty (the next event queued then sends a wake-up).
Napi::Value LiveCapture::Take(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::unique_ptr<CaptureEvent> event;
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    if (queue_.empty()) {
      wakeSent_ = false;
      return env.Null();
    }
    event = std::move(queue_.front());
    queue_.pop_front();
    if (!event->isError) queuedBatches_--;
  }
  queueSpace_.notify_one();
  Napi::Object out = Napi::Object::New(env);
  if (event->isError) {
    out.Set("error", MakeError(env, kKindFailed, event->message).Value());
    return out;
  }
  auto* records = new std::vector<uint8_t>(std::move(event->records));
  // One Buffer per batch, owning the bytes (no copy); freed when JavaScript drops it
  // (Node runs the finalizer from its event loop, hence one batch per turn of it).
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
      env, records->data(), records->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* owner) { delete owner; },
      records);
  out.Set("records", buffer);
  out.Set("frames", Napi::Number::New(env, event->frames));
  return out;
}

void CaptureThreadFinished(Napi::Env env, void*, LiveCapture* capture) { capture->Finish(env); }

void LiveCapture::Finish(Napi::Env env) {
  // Normally the thread already left its loop; when the environment is torn down
  // (a worker terminated) it may still be reading or waiting for room in the queue, so
  // ask it to stop before joining.
  {
    // Normally a no-op (the thread queues nothing after releasing the wake-up function);
    // what is queued stays there for take().
    std::lock_guard<std::mutex> lock(queueMutex_);
    abandoned_ = true;
  }
  queueSpace_.notify_all();
  RequestStop();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(statsMutex_);
    if (handle_ != nullptr) pcap_close(handle_);
    handle_ = nullptr;
  }
  finished_ = true;
  Napi::HandleScope scope(env);
  std::vector<Napi::Promise::Deferred> waiters;
  waiters.swap(closeWaiters_);
  for (auto& w : waiters) w.Resolve(env.Undefined());
  Napi::Function onEnd = onEnd_.Value();
  onReady_.Reset();
  onEnd_.Reset();
  CallBack(onEnd, {});
  Unref();  // last: from here the object may be collected
}

// { received, dropped, ifDropped } from pcap_stats (after the end, the last values read),
// and queuedBatches: batches the thread queued that JavaScript has not taken yet.
// Safe beside the capture thread: on Linux pcap_stats reads the socket's counters
// (getsockopt PACKET_STATISTICS) and its own totals, which the read loop never touches;
// the mutex orders it against the thread's final read and the handle's close.
Napi::Value LiveCapture::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct pcap_stat st {};
  {
    std::lock_guard<std::mutex> lock(statsMutex_);
    if (haveFinalStats_ || handle_ == nullptr) {
      if (!haveFinalStats_) throw MakeError(env, kKindFailed, "capture closed before its counters were read");
      st = finalStats_;
    } else if (pcap_stats(handle_, &st) != 0) {
      throw MakeError(env, kKindFailed, pcap_geterr(handle_));
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("received", Napi::Number::New(env, st.ps_recv));
  out.Set("dropped", Napi::Number::New(env, st.ps_drop));
  out.Set("ifDropped", Napi::Number::New(env, st.ps_ifdrop));
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    out.Set("queuedBatches", Napi::Number::New(env, static_cast<double>(queuedBatches_)));
  }
  return out;
}

// Resolves once the thread has stopped and every batch it read was delivered.
Napi::Value LiveCapture::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise promise = deferred.Promise();
  if (!started_) {  // never started: no thread, no thread-safe function
    if (handle_ != nullptr) {
      std::lock_guard<std::mutex> lock(statsMutex_);
      haveFinalStats_ = pcap_stats(handle_, &finalStats_) == 0;
      pcap_close(handle_);
      handle_ = nullptr;
    }
    started_ = true;
    finished_ = true;
    deferred.Resolve(env.Undefined());
    return promise;
  }
  if (finished_) {
    deferred.Resolve(env.Undefined());
    return promise;
  }
  closeWaiters_.push_back(deferred);
  RequestStop();
  return promise;
}

Napi::Value LiveCapture::Datalink(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), linkType_); }
Napi::Value LiveCapture::Snaplen(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), snaplen_); }

}  // namespace ackscope
