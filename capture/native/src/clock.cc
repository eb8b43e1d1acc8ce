// CLOCK_REALTIME in nanoseconds: the clock libpcap stamps frames with, so completion
// times taken by the sender and frame times compare directly.
#include <napi.h>
#include <time.h>

#include "errors.h"

namespace ackscope {

Napi::Value RealtimeNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(CLOCK_REALTIME) && !defined(_WIN32)
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    throw MakeError(env, kKindFailed, "clock_gettime(CLOCK_REALTIME) failed");
  }
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(env, ns);
#else
  throw MakeError(env, kKindUnsupported, "CLOCK_REALTIME is not available on this platform");
#endif
}

namespace {

// One per Node environment (the main thread and each worker load the addon apart): the
// two slots realtimeStamp() writes, in an ArrayBuffer made here, so its memory never
// moves and is reached without unwrapping an argument on every call.
struct StampSlots {
  Napi::Reference<Napi::Float64Array> array;
  double* slots;
};

// realtimeStamp(): CLOCK_REALTIME into the stamp slots as [seconds, nanoseconds];
// returns nothing. The sender reads the clock twice per write: a BigInt made per
// reading was an allocation per read and GC work after (bench/sender-overhead.ts).
// A plain Node-API callback, not node-addon-api's wrapper: no CallbackInfo built, one
// Node-API call (the slots pointer) before the clock read. Measured here (1M calls, min of
// 15 at load ~9): realtimeNs 129 ns a call, this 111 ns; the rest is the call itself.
napi_value RealtimeStamp(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data) != napi_ok) return nullptr;
#if defined(CLOCK_REALTIME) && !defined(_WIN32)
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    napi_throw_error(env, nullptr, "clock_gettime(CLOCK_REALTIME) failed");
    return nullptr;
  }
  double* slots = static_cast<StampSlots*>(data)->slots;
  slots[0] = static_cast<double>(ts.tv_sec);
  slots[1] = static_cast<double>(ts.tv_nsec);
#else
  napi_throw_error(env, nullptr, "CLOCK_REALTIME is not available on this platform");
#endif
  return nullptr;  // undefined
}

}  // namespace

// Exports realtimeStamp and realtimeSlots (the Float64Array of 2 it fills) on `exports`.
void ExportRealtimeStamp(Napi::Env env, Napi::Object exports) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, 2 * sizeof(double));
  Napi::Float64Array array = Napi::Float64Array::New(env, 2, buffer, 0);
  auto* stamp = new StampSlots{Napi::Persistent(array), static_cast<double*>(buffer.Data())};
  env.AddCleanupHook([stamp]() { delete stamp; });
  exports.Set("realtimeSlots", array);
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "realtimeStamp", NAPI_AUTO_LENGTH, RealtimeStamp, stamp, &fn));
  exports.Set("realtimeStamp", Napi::Value(env, fn));
}

}  // namespace ackscope
