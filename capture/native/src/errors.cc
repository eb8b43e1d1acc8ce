#include "errors.h"

#include <pcap/pcap.h>

namespace ackscope {

Napi::Error MakeError(Napi::Env env, const char* kind, const std::string& message, int pcapStatus) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("kind", Napi::String::New(env, kind));
  if (pcapStatus != 0) err.Set("pcapStatus", Napi::Number::New(env, pcapStatus));
  return err;
}

const char* KindForPcapStatus(int status) {
  switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return kKindInterface;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return kKindPermission;
    default:
      return kKindFailed;
  }
}

}  // namespace ackscope
