// Interface listing and filter checks: libpcap calls that need no capture thread.
#include <napi.h>
#include <pcap/pcap.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "errors.h"

namespace ackscope {

namespace {

// Text form of an IPv4/IPv6 address; empty for families we do not show (AF_PACKET...).
std::string AddressText(const struct sockaddr* sa) {
  if (sa == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const struct sockaddr_in*>(sa);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) return text;
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(sa);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) return text;
  }
  return "";
}

}  // namespace

// [{ name, description?, addresses: string[], loopback, up }]
Napi::Value ListInterfaces(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_if_t* all = nullptr;
  if (pcap_findalldevs(&all, errbuf) != 0) throw MakeError(env, kKindFailed, errbuf);

  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (pcap_if_t* dev = all; dev != nullptr; dev = dev->next) {
    Napi::Object item = Napi::Object::New(env);
    item.Set("name", dev->name);
    if (dev->description) item.Set("description", dev->description);
    Napi::Array addresses = Napi::Array::New(env);
    uint32_t j = 0;
    for (pcap_addr_t* a = dev->addresses; a != nullptr; a = a->next) {
      std::string text = AddressText(a->addr);
      if (!text.empty()) addresses.Set(j++, text);
    }
    item.Set("addresses", addresses);
    item.Set("loopback", Napi::Boolean::New(env, (dev->flags & PCAP_IF_LOOPBACK) != 0));
#ifdef PCAP_IF_UP
    item.Set("up", Napi::Boolean::New(env, (dev->flags & PCAP_IF_UP) != 0));
#else
    item.Set("up", Napi::Boolean::New(env, true));
#endif
    out.Set(i++, item);
  }
  pcap_freealldevs(all);
  return out;
}

// compileFilter(linkType, snaplen, filter): throws kind "filter" with libpcap's message
// when the filter does not compile for that link type; returns the instruction count.
Napi::Value CompileFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    throw MakeError(env, kKindArgument, "compileFilter(linkType, snaplen, filter)");
  }
  int linkType = info[0].As<Napi::Number>().Int32Value();
  int snaplen = info[1].As<Napi::Number>().Int32Value();
  std::string filter = info[2].As<Napi::String>().Utf8Value();
  pcap_t* dead = pcap_open_dead(linkType, snaplen);
  if (dead == nullptr) throw MakeError(env, kKindFailed, "pcap_open_dead failed");
  struct bpf_program program;
  if (pcap_compile(dead, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    std::string message = pcap_geterr(dead);
    pcap_close(dead);
    throw MakeError(env, kKindFilter, message);
  }
  uint32_t count = program.bf_len;
  pcap_freecode(&program);
  pcap_close(dead);
  return Napi::Number::New(env, count);
}

// libpcap's version string, for logs and the README's figures.
Napi::Value LibVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pcap_lib_version()); }

}  // namespace ackscope
