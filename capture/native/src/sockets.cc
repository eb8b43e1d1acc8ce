// Socket facts Node's net module does not expose: TCP_INFO and SO_SNDBUF.
// Returned raw (kernel counters as the kernel keeps them); the stream-offset
// correction lives in capture/native/index.ts beside its test.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/types.h>
#endif
#ifdef __linux__
#include <linux/tcp.h>
#include <netinet/in.h>
#endif

#include "errors.h"

namespace ackscope {

namespace {

int FdArgument(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw MakeError(info.Env(), kKindArgument, "expected a file descriptor (number)");
  }
  return info[index].As<Napi::Number>().Int32Value();
}

std::string ErrnoMessage(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

#ifdef __linux__
// The socket's TCP_INFO, as tcpInfoRaw and tcpInfoInto both read it.
struct tcp_info ReadTcpInfo(Napi::Env env, int fd) {
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof ti);
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
    throw MakeError(env, kKindFailed, ErrnoMessage("getsockopt(TCP_INFO)", errno));
  }
  // Older kernels return a shorter struct: refuse rather than report zeros as facts.
  size_t needed = offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof ti.tcpi_bytes_retrans;
  if (len < needed) {
    throw MakeError(env, kKindUnsupported,
                    "this kernel's TCP_INFO has no tcpi_bytes_sent/tcpi_bytes_retrans (needs Linux 4.19 or newer)");
  }
  return ti;
}
#endif

}  // namespace

// Raw TCP_INFO counters. bytesSent includes retransmitted bytes and bytesAcked the
// SYN of an actively opened connection; index.ts corrects both to stream offsets.
Napi::Value TcpInfoRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, 0);
#ifdef __linux__
  struct tcp_info ti = ReadTcpInfo(env, fd);
  Napi::Object out = Napi::Object::New(env);
  out.Set("state", Napi::Number::New(env, ti.tcpi_state));
  out.Set("bytesSent", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_sent)));
  out.Set("bytesAcked", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_acked)));
  out.Set("bytesRetrans", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_retrans)));
  out.Set("bytesReceived", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_received)));
  out.Set("notsentBytes", Napi::Number::New(env, ti.tcpi_notsent_bytes));
  out.Set("unacked", Napi::Number::New(env, ti.tcpi_unacked));
  out.Set("rttUs", Napi::Number::New(env, ti.tcpi_rtt));
  out.Set("sndMss", Napi::Number::New(env, ti.tcpi_snd_mss));
  out.Set("sndCwnd", Napi::Number::New(env, ti.tcpi_snd_cwnd));
  return out;
#else
  throw MakeError(env, kKindUnsupported, "TCP_INFO with byte counters is only read on Linux");
#endif
}

// tcpInfoInto(fd, Float64Array out): the same raw counters without building an object
// (the sender reads TCP_INFO once per write; ~2 µs per object vs. ~0.4 µs for the
// getsockopt itself). out = [bytesSent, bytesAcked, notsentBytes, unacked,
// bytesRetrans, rttUs, state] — keep in step with TCP_INFO_SLOTS in index.ts.
Napi::Value TcpInfoInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[1].As<Napi::Float64Array>().ElementLength() < 7) {
    throw MakeError(env, kKindArgument, "tcpInfoInto(fd, out): out must be a Float64Array of at least 7 elements");
  }
#ifdef __linux__
  struct tcp_info ti = ReadTcpInfo(env, fd);
  Napi::Float64Array out = info[1].As<Napi::Float64Array>();
  double* slot = out.Data();
  slot[0] = static_cast<double>(ti.tcpi_bytes_sent);
  slot[1] = static_cast<double>(ti.tcpi_bytes_acked);
  slot[2] = ti.tcpi_notsent_bytes;
  slot[3] = ti.tcpi_unacked;
  slot[4] = static_cast<double>(ti.tcpi_bytes_retrans);
  slot[5] = ti.tcpi_rtt;
  slot[6] = ti.tcpi_state;
  return env.Undefined();
#else
  throw MakeError(env, kKindUnsupported, "TCP_INFO with byte counters is only read on Linux");
#endif
}

Napi::Value SetSendBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, 0);
  if (info.Length() < 2 || !info[1].IsNumber()) throw MakeError(env, kKindArgument, "expected a size in bytes");
#ifndef _WIN32
  int bytes = info[1].As<Napi::Number>().Int32Value();
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
    throw MakeError(env, kKindFailed, ErrnoMessage("setsockopt(SO_SNDBUF)", errno));
  }
  return env.Undefined();
#else
  throw MakeError(env, kKindUnsupported, "SO_SNDBUF through the addon is not built on Windows");
#endif
}

Napi::Value GetSendBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, 0);
#ifndef _WIN32
  int bytes = 0;
  socklen_t len = sizeof bytes;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, &len) != 0) {
    throw MakeError(env, kKindFailed, ErrnoMessage("getsockopt(SO_SNDBUF)", errno));
  }
  return Napi::Number::New(env, bytes);
#else
  throw MakeError(env, kKindUnsupported, "SO_SNDBUF through the addon is not built on Windows");
#endif
}

}  // namespace ackscope
