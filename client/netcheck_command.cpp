// `vpnpeer netcheck`: runs NatDiscovery (client/netcheck/) over one plain UDP socket with poll(),
// then prints what it found. Blocking and single-threaded on purpose: it is a one-shot CLI tool,
// bounded by the engine's per-test budget (and a hard cap below), and needs no event loop.
//
// --json prints one object; these fields are stable (tests and scripts assert on them):
//   server               "IP:PORT" actually queried (after resolving)
//   udp_ok               bool: test I was answered
//   public_endpoint      "IP:PORT" or null: the mapped address the server saw
//   local_endpoint       "IP:PORT" or null: our socket
//   behind_nat           bool or null (local endpoint unknown)
//   mapping              "endpoint-independent" | "address-dependent" |
//                        "address-and-port-dependent" | "unknown"
//   mapping_tested_across_addresses   bool (false: across the server's ports only)
//   port_stride          integer or null: new mappings took consecutive ports this far apart
//                        (a NAT that allocates in sequence; port prediction can aim at it)
//   filtering            as mapping, plus "endpoint-or-address-dependent" (port-only test)
//   filtering_tested_with_address     bool
//   nat_type             "open" | "open-with-firewall" | "full-cone" | "restricted-cone" |
//                        "full-or-restricted-cone" | "port-restricted-cone" | "symmetric" |
//                        "udp-blocked" | "unknown"
//   server_other_address "IP:PORT" or null (the server's OTHER-ADDRESS)
//   meaning              one sentence: what the result means for vpnpeer
//   notes                [string]: caveats in plain words
//   tests                [{test, to, change_ip, change_port, result ("answered" | "timeout" |
//                        "error" | "answered-unchanged"), transmissions, mapped, from,
//                        error_code (if any), rtt_ms}]: the raw evidence, for humans
//   ignored_datagrams    count of datagrams that were not an answer to our requests
//   port_mapping         the router's test mapping (port_map_render.hpp)
//   nat_mapping_lifetime with --mapping-lifetime: {state ("done" | "failed"), kept_s, lost_s
//                        (integer or null), note}
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "client/netcheck_lifetime.hpp"
#include "client/netcheck_portmap.hpp"
#include "client/port_map_render.hpp"
#include "client/commands.hpp"
#include "client/json_writer.hpp"
#include "client/netcheck/nat_discovery.hpp"
#include "config/load.hpp"
#include "config/peer_config.hpp"
#include "crypto/certificate.hpp"
#include "crypto/network_key.hpp"
#include "crypto/random.hpp"
#include "protocol/sealed_packet.hpp"
#include "session/outer_seal.hpp"

namespace vpn::client {
namespace {

using netcheck::NatType;
using protocol::Endpoint;
using protocol::IpAddress;

void fail(const std::string& sentence) {
  std::fprintf(stderr, "vpnpeer: %s\n", sentence.c_str());
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

socklen_t toSockaddr(const Endpoint& e, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (e.address().isV4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(e.port());
    std::memcpy(&sin->sin_addr, e.address().bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(e.port());
  std::memcpy(&sin6->sin6_addr, e.address().bytes(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<Endpoint> fromSockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    std::uint8_t b[4];
    std::memcpy(b, &sin->sin_addr, 4);
    return Endpoint(IpAddress::v4(b), ntohs(sin->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::uint8_t b[16];
    std::memcpy(b, &sin6->sin6_addr, 16);
    return Endpoint(IpAddress::v6(b), ntohs(sin6->sin6_port));
  }
  return std::nullopt;
}

// Resolves host:port to one UDP endpoint (the resolver's first answer). nullopt on failure, with
// the reason in `why`.
std::optional<Endpoint> resolve(const config::RendezvousEntry& server, std::string& why) {
  if (auto ip = IpAddress::parse(server.host)) {
    return Endpoint(*ip, server.port);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(server.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    why = rc != 0 ? gai_strerror(rc) : "no address";
    return std::nullopt;
  }
  std::optional<Endpoint> out;
  for (addrinfo* ai = res; ai != nullptr && !out; ai = ai->ai_next) {
    sockaddr_storage ss{};
    if (ai->ai_addrlen <= sizeof ss) {
      std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
      out = fromSockaddr(ss);
    }
  }
  ::freeaddrinfo(res);
  if (!out) {
    why = "no IPv4 or IPv6 address";
    return std::nullopt;
  }
  return Endpoint(out->address(), server.port);
}

// The local address the kernel would use towards `server` (a connected throwaway socket).
std::optional<IpAddress> localAddressTowards(const Endpoint& server) {
  sockaddr_storage ss{};
  socklen_t len = toSockaddr(server, ss);
  Fd s(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0 || ::connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return std::nullopt;
  }
  sockaddr_storage local{};
  socklen_t llen = sizeof local;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &llen) != 0) {
    return std::nullopt;
  }
  auto e = fromSockaddr(local);
  if (!e) {
    return std::nullopt;
  }
  return e->address();
}

std::string meaning(NatType t) {
  switch (t) {
    case NatType::kOpen:
      return "no NAT and no filtering seen: any peer can reach this host directly";
    case NatType::kFullCone:
    case NatType::kRestrictedCone:
    case NatType::kFullOrRestrictedCone:
      return "cone NAT with a stable public endpoint: direct connections (with hole punching) "
             "work with every kind of peer";
    case NatType::kOpenWithFirewall:
    case NatType::kPortRestrictedCone:
      return "stable public endpoint but strict filtering: hole punching works with peers "
             "without NAT or behind cone NATs; peers behind symmetric NATs need a relay";
    case NatType::kSymmetric:
      return "symmetric NAT (the public port changes per destination): direct connections work "
             "only with peers without NAT or behind full or restricted cone NATs; with "
             "port-restricted-cone or symmetric peers traffic needs a relay";
    case NatType::kUdpBlocked:
      return "no UDP reached the server: vpnpeer can't work over this network as it is "
             "(it needs UDP)";
    case NatType::kUnknown:
      return "the NAT's behaviour could not be fully determined; vpnpeer will still try direct "
             "connections and hole punching";
  }
  return "";
}

std::string_view outcomeName(netcheck::TestOutcome o) {
  switch (o) {
    case netcheck::TestOutcome::kPending: return "pending";
    case netcheck::TestOutcome::kAnswered: return "answered";
    case netcheck::TestOutcome::kTimedOut: return "timeout";
    case netcheck::TestOutcome::kErrorResponse: return "error";
    case netcheck::TestOutcome::kAnsweredUnchanged: return "answered-unchanged";
  }
  return "unknown";
}

std::string typeTitle(NatType t) {
  std::string s(netcheck::toString(t));
  for (char& c : s) {
    if (c == '-') {
      c = ' ';
    }
  }
  return s;
}

// The port mapping test in words: whether the router maps, through which protocol, or why not.
std::string mappingWords(const PortMapStatus& m) {
  if (m.state == "mapped" && m.external) {
    return std::string("yes, ") + toString(m.protocol) + " maps " + m.external->toString() +
           " (gateway " + (m.gateway ? m.gateway->toString() : "?") +
           "; deleted again): peers can reach us directly whatever the NAT";
  }
  return "no (" + (m.gateway ? "gateway " + m.gateway->toString() + ": " : std::string()) +
         m.last_error + ")";
}

using Lifetime = std::optional<netcheck::MappingLifetimeResult>;

// --mapping-lifetime in words.
std::string lifetimeWords(const netcheck::MappingLifetimeResult& l) {
  if (l.state == netcheck::MappingLifetimeResult::State::kDone && l.kept) {
    return "idle mappings kept " + std::to_string(l.kept->count()) + " s" +
           (l.lost ? ", gone after " + std::to_string(l.lost->count()) + " s" : " or more");
  }
  return "not measured (" + l.note + ")";
}

void printText(const Endpoint& server, const netcheck::NetcheckReport& r, const PortMapStatus& m,
               const Lifetime& lifetime) {
  std::printf("server:            %s\n", server.toString().c_str());
  std::printf("UDP:               %s\n", r.udp_ok ? "ok" : "blocked (no answer)");
  if (r.public_endpoint) {
    std::printf("public endpoint:   %s\n", r.public_endpoint->toString().c_str());
  }
  if (r.local) {
    std::printf("local endpoint:    %s\n", r.local->toString().c_str());
  }
  if (r.behind_nat) {
    std::printf("behind NAT:        %s\n", *r.behind_nat ? "yes" : "no");
  }
  if (r.udp_ok) {
    if (r.server_other_address) {
      std::printf("server alternate:  %s (%s)\n", r.server_other_address->toString().c_str(),
                  r.server_alt_address ? "other address and port" : "other port only");
    }
    std::printf("mapping:           %s%s\n", std::string(toString(r.mapping)).c_str(),
                r.mapping != netcheck::MappingBehavior::kUnknown &&
                        !r.mapping_tested_across_addresses
                    ? " (tested across ports only)"
                    : "");
    if (r.port_stride) {
      std::printf("port allocation:   in sequence, step %u\n", unsigned{*r.port_stride});
    }
    std::printf("filtering:         %s%s\n", std::string(toString(r.filtering)).c_str(),
                r.filtering != netcheck::FilteringBehavior::kUnknown &&
                        !r.filtering_tested_with_address
                    ? " (tested with the port only)"
                    : "");
  }
  std::printf("NAT type:          %s\n", typeTitle(r.nat_type).c_str());
  std::printf("port mapping:      %s\n", mappingWords(m).c_str());
  if (lifetime) {
    std::printf("mapping lifetime:  %s\n", lifetimeWords(*lifetime).c_str());
  }
  for (const auto& n : r.notes) {
    std::printf("note: %s\n", n.c_str());
  }
  std::printf("for vpnpeer: %s\n", meaning(r.nat_type).c_str());
}

void printJson(const Endpoint& server, const netcheck::NetcheckReport& r, const PortMapStatus& m,
               const Lifetime& lifetime) {
  auto opt = [](JsonWriter& w, const std::optional<Endpoint>& e) {
    if (e) {
      w.value(e->toString());
    } else {
      w.null();
    }
  };
  JsonWriter w;
  w.beginObject();
  w.key("server").value(server.toString());
  w.key("udp_ok").value(r.udp_ok);
  w.key("public_endpoint");
  opt(w, r.public_endpoint);
  w.key("local_endpoint");
  opt(w, r.local);
  w.key("behind_nat");
  if (r.behind_nat) {
    w.value(*r.behind_nat);
  } else {
    w.null();
  }
  w.key("mapping").value(toString(r.mapping));
  w.key("mapping_tested_across_addresses").value(r.mapping_tested_across_addresses);
  w.key("port_stride");
  if (r.port_stride) {
    w.value(static_cast<std::uint64_t>(*r.port_stride));
  } else {
    w.null();
  }
  w.key("filtering").value(toString(r.filtering));
  w.key("filtering_tested_with_address").value(r.filtering_tested_with_address);
  w.key("nat_type").value(toString(r.nat_type));
  w.key("server_other_address");
  opt(w, r.server_other_address);
  w.key("meaning").value(meaning(r.nat_type));
  w.key("notes").beginArray();
  for (const auto& n : r.notes) {
    w.value(n);
  }
  w.endArray();
  w.key("tests").beginArray();
  for (const auto& t : r.tests) {
    w.beginObject();
    w.key("test").value(toString(t.kind));
    w.key("to").value(t.to.toString());
    w.key("change_ip").value(t.change_ip);
    w.key("change_port").value(t.change_port);
    w.key("result").value(outcomeName(t.outcome));
    w.key("transmissions").value(t.transmissions);
    w.key("mapped");
    opt(w, t.mapped);
    w.key("from");
    opt(w, t.answered_from);
    if (t.error_code) {
      w.key("error_code").value(static_cast<std::int64_t>(*t.error_code));
    }
    w.key("rtt_ms").value(static_cast<std::int64_t>(t.rtt.count()));
    w.endObject();
  }
  w.endArray();
  w.key("ignored_datagrams").value(r.ignored_datagrams);
  writePortMapping(w, m, Clock::now());
  if (lifetime) {
    w.key("nat_mapping_lifetime").beginObject();
    w.key("state").value(toString(lifetime->state));
    w.key("kept_s");
    lifetime->kept ? w.value(static_cast<std::int64_t>(lifetime->kept->count())) : w.null();
    w.key("lost_s");
    lifetime->lost ? w.value(static_cast<std::int64_t>(lifetime->lost->count())) : w.null();
    w.key("note").value(lifetime->note);
    w.endObject();
  }
  w.endObject();
  std::printf("%s\n", w.str().c_str());
}

// Runs the engine to completion on `fd`, sealing requests and opening answers with `seal` when
// the peer file names a network key. Returns false only on a local socket failure.
bool runDiscovery(int fd, netcheck::NatDiscovery& nd, std::chrono::milliseconds hard_cap,
                  session::OuterSeal* seal) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  nd.start(start);
  std::uint8_t buf[2048];
  while (!nd.done()) {
    for (const auto& req : nd.takeOutgoing()) {
      sockaddr_storage ss{};
      socklen_t len = toSockaddr(req.to, ss);
      std::span<const std::uint8_t> out(req.bytes);
      std::array<std::uint8_t, protocol::kMaxSealedPacket> sealed{};
      if (seal != nullptr) {
        out = std::span<const std::uint8_t>(sealed.data(), seal->seal(out, sealed));
      }
      if (out.empty()) {
        continue;
      }
      // A failed send (unreachable network, no route) is loss; the engine times the test out.
      (void)::sendto(fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
    }
    if (nd.done()) {
      break;
    }
    auto now = Clock::now();
    if (now - start > hard_cap) {
      return true;  // can't happen with a sane engine; the report says what was learned
    }
    auto deadline = nd.nextDeadline();
    int wait_ms = 0;
    if (deadline && *deadline > now) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now).count();
      wait_ms = static_cast<int>(ms > 60000 ? 60000 : ms);
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) {
      return false;
    }
    if (n > 0) {
      for (;;) {
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t got = ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &flen);
        if (got < 0) {
          break;  // EAGAIN, or an ICMP error surfaced as ECONNREFUSED: nothing to read
        }
        std::span<std::uint8_t> in(buf, static_cast<std::size_t>(got));
        if (seal != nullptr) {
          in = seal->open(in);  // empty (ignored below) unless sealed with our key
        }
        if (auto src = fromSockaddr(from); src && !in.empty()) {
          nd.onDatagram(Clock::now(), *src, in);
        }
        if (nd.done()) {
          break;
        }
      }
    }
    now = Clock::now();
    if (auto d = nd.nextDeadline(); d && now >= *d) {
      nd.onTimer(now);
    }
  }
  return true;
}

}  // namespace

int runNetcheck(const NetcheckArgs& a) {
  if (a.timeout_s < 0.2 || a.timeout_s > 60) {
    fail("--timeout must be between 0.2 and 60 seconds");
    return 2;
  }
  config::RendezvousEntry target;
  std::optional<crypto::NetworkKey> network_key;  // from the peer file: STUN goes sealed
  if (a.server) {
    auto hp = config::parseHostPort(*a.server);
    if (!hp) {
      fail("--server wants HOST:PORT or [V6]:PORT, got '" + *a.server + "'");
      return 2;
    }
    target = *hp;
  } else if (a.config) {
    auto cfg = config::loadPeerConfig(*a.config);
    if (!cfg.ok()) {
      for (const auto& e : cfg.error()) {
        std::fprintf(stderr, "%s\n", e.toString().c_str());
      }
      fail(a.config->string() + " has " + std::to_string(cfg.error().size()) + " problem(s)");
      return 2;
    }
    if (cfg->rendezvous.empty()) {
      fail(a.config->string() + " names no [[rendezvous]] server; use --server HOST:PORT");
      return 2;
    }
    target = cfg->rendezvous.front();
    if (cfg->network_key) {
      try {
        network_key = crypto::loadNetworkKey(cfg->network_key->from_ca, cfg->network_key->file,
                                             cfg->ca);
      } catch (const crypto::CryptoError& e) {
        fail(e.what());
        return 2;
      }
    }
  } else {
    fail("netcheck needs -c PEER.toml or --server HOST:PORT");
    return 2;
  }

  std::string why;
  auto server = resolve(target, why);
  if (!server) {
    fail("cannot resolve " + target.toString() + ": " + why);
    return 1;
  }

  netcheck::NatDiscoveryConfig cfg;
  cfg.server = *server;
  cfg.test_budget = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  cfg.initial_rto = std::chrono::milliseconds(500) < cfg.test_budget / 2
                        ? std::chrono::milliseconds(500)
                        : cfg.test_budget / 4;

  // Bind to the address the kernel would use towards the server, so the report can tell
  // "no NAT" (mapped == local) apart from "NAT". Without a route, UDP is as good as blocked:
  // bind to the wildcard and let the tests time out.
  auto local_ip = localAddressTowards(*server);
  Endpoint bind_to(local_ip.value_or(server->address().isV4() ? IpAddress{}
                                                             : *IpAddress::parse("::")),
                   0);
  sockaddr_storage ss{};
  socklen_t len = toSockaddr(bind_to, ss);
  Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    fail(std::string("cannot open a UDP socket: ") + std::strerror(errno));
    return 1;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (local_ip && ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen) == 0) {
    cfg.local = fromSockaddr(bound);
  }

  netcheck::NatDiscovery nd(cfg, [] {
    protocol::StunTransactionId id{};
    crypto::randomBytes(id);
    return id;
  });
  std::unique_ptr<session::OuterSeal> seal;
  if (network_key) {
    seal = std::make_unique<session::OuterSeal>(*network_key);
  }
  if (!runDiscovery(fd.get(), nd, cfg.test_budget * 4 + std::chrono::seconds(2), seal.get())) {
    fail(std::string("socket failure: ") + std::strerror(errno));
    return 1;
  }
  sockaddr_storage mine{};
  socklen_t mlen = sizeof mine;
  PortMapStatus mapping;
  mapping.last_error = "the netcheck socket has no port";
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&mine), &mlen) == 0) {
    if (auto ep = fromSockaddr(mine); ep && ep->address().isV4()) {
      mapping = probePortMapping(fd.get(), ep->address(), ep->port(), std::chrono::seconds(8));
    } else {
      mapping.last_error = "asked over IPv4 only";
    }
  }
  Lifetime lifetime;
  if (a.mapping_lifetime) {
    const auto& r = nd.report();
    if (r.public_endpoint && r.behind_nat.value_or(true)) {
      lifetime = probeMappingLifetime(fd.get(), *server, r.public_endpoint->address(), seal.get());
    } else {
      lifetime = netcheck::MappingLifetimeResult{};
      lifetime->state = netcheck::MappingLifetimeResult::State::kFailed;
      lifetime->note = r.public_endpoint ? "no NAT in front of us" : "the server did not answer";
    }
  }
  if (a.json) {
    printJson(*server, nd.report(), mapping, lifetime);
  } else {
    printText(*server, nd.report(), mapping, lifetime);
  }
  return 0;
}

}  // namespace vpn::client
