// ackscope_native: the module's exports. Policy (defaults, validation, error codes)
// lives in capture/native/index.ts; these functions take plain positional values.
#include <napi.h>

#include "live_capture.h"

namespace ackscope {
Napi::Value RealtimeNs(const Napi::CallbackInfo& info);
void ExportRealtimeStamp(Napi::Env env, Napi::Object exports);
Napi::Value TcpInfoRaw(const Napi::CallbackInfo& info);
Napi::Value TcpInfoInto(const Napi::CallbackInfo& info);
Napi::Value SetSendBuffer(const Napi::CallbackInfo& info);
Napi::Value GetSendBuffer(const Napi::CallbackInfo& info);
Napi::Value ListInterfaces(const Napi::CallbackInfo& info);
Napi::Value CompileFilter(const Napi::CallbackInfo& info);
Napi::Value LibVersion(const Napi::CallbackInfo& info);

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("realtimeNs", Napi::Function::New(env, RealtimeNs, "realtimeNs"));
  ExportRealtimeStamp(env, exports);
  exports.Set("tcpInfoRaw", Napi::Function::New(env, TcpInfoRaw, "tcpInfoRaw"));
  exports.Set("tcpInfoInto", Napi::Function::New(env, TcpInfoInto, "tcpInfoInto"));
  exports.Set("setSendBuffer", Napi::Function::New(env, SetSendBuffer, "setSendBuffer"));
  exports.Set("getSendBuffer", Napi::Function::New(env, GetSendBuffer, "getSendBuffer"));
  exports.Set("listInterfaces", Napi::Function::New(env, ListInterfaces, "listInterfaces"));
  exports.Set("compileFilter", Napi::Function::New(env, CompileFilter, "compileFilter"));
  exports.Set("libVersion", Napi::Function::New(env, LibVersion, "libVersion"));
  exports.Set("LiveCapture", LiveCapture::Define(env));
  exports.Set("platform", Napi::String::New(env,
#ifdef __linux__
                                              "linux"
#else
                                              "other"
#endif
                                              ));
  return exports;
}

}  // namespace ackscope

// The macro pastes its argument into a name, so it takes an unqualified function.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ackscope::Init(env, exports); }
NODE_API_MODULE(ackscope_native, InitModule)
