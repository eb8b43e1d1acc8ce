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

}  // namespace ackscope
