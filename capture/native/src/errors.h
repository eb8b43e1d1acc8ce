// Errors thrown to JavaScript carry libpcap's (or the OS's) own message plus a
// `kind` property. capture/native/index.ts maps the kind to an AckscopeError code:
// TypeScript holds the policy (codes, HTTP status, wording), C++ only the facts.
#pragma once
#include <napi.h>
#include <string>

namespace ackscope {

// Values of the `kind` property; keep in step with NativeErrorKind in index.ts.
constexpr const char* kKindInterface = "interface";      // no such device
constexpr const char* kKindPermission = "permission";    // PCAP_ERROR_PERM_DENIED and friends
constexpr const char* kKindFilter = "filter";            // pcap_compile failed
constexpr const char* kKindFailed = "failed";            // any other libpcap/OS failure
constexpr const char* kKindUnsupported = "unsupported";  // platform lacks the feature
constexpr const char* kKindArgument = "argument";        // a bad argument from the TS layer (a bug)

// Builds an Error with `kind` and, when known, the libpcap status code (`pcapStatus`).
Napi::Error MakeError(Napi::Env env, const char* kind, const std::string& message, int pcapStatus = 0);

// Kind for a libpcap status returned by pcap_activate / pcap_set_*.
const char* KindForPcapStatus(int status);

}  // namespace ackscope
