// rendezvous_load: N simulated peers register with a running vpnpeer-rendezvous on 127.0.0.1 and
// then issue lookups; reports registrations/s, lookups/s and the server's RSS per registered
// peer. Each peer has its own certificate (Ed25519, signed at start) and its own TLS 1.3 session
// (session::Handshake as client, DataKeys); many peers share a few UDP sockets, demultiplexed by
// receiver index. Bounded in count and in time.
//
//   rendezvous_load [--server PATH] [--peers N] [--lookups M] [--window W] [--sockets K]
//                   [--time-limit S]
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "crypto/certificate.hpp"
#include "protocol/stun.hpp"
#include "tests/unit/rendezvous/rv_test_peer.hpp"

namespace fs = std::filesystem;
using namespace vpn;

namespace {

struct Args {
  std::string server;
  std::size_t peers = 10000;
  std::size_t lookups = 200000;
  std::size_t window = 256;
  std::size_t sockets = 4;
  double time_limit = 300;
};

double since(Instant t) {
  return toSeconds(Clock::now() - t);
}

long rssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream in(all.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) {
      ticks += std::strtod(field.c_str(), nullptr);
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int udpSocket(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int buf = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  return fd;
}

std::uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

class UdpSink final : public session::DatagramSink {
 public:
  UdpSink(int fd, std::uint16_t port) : fd_(fd) {
    to_.sin_family = AF_INET;
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to_.sin_port = htons(port);
  }
  void sendDatagram(const protocol::Endpoint&, std::span<const std::uint8_t> bytes) override {
    if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
                 sizeof to_) < 0) {
      ++send_errors;
    }
  }
  std::uint64_t send_errors = 0;

 private:
  int fd_;
  sockaddr_in to_{};
};

enum class State { kIdle, kHandshaking, kRegistering, kRegistered, kFailed };

struct Slot {
  std::unique_ptr<crypto::TlsContext> tls;
  std::unique_ptr<test::RvTestPeer> peer;
  State state = State::kIdle;
  Instant started{};
  Instant register_sent{};
  int register_tries = 0;
  std::size_t sock = 0;
};

struct Bench {
  Args args;
  fs::path dir;
  std::uint16_t port = 0;
  pid_t server = -1;
  std::vector<int> fds;
  std::vector<std::unique_ptr<UdpSink>> sinks;
  std::vector<Slot> slots;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(4096);
  // Lookup phase.
  std::unordered_map<std::uint32_t, Instant> outstanding;
  double context_seconds = 0;  // bench-side TlsContext::create time (file reads, checks)
  std::uint64_t lookups_done = 0, lookups_failed = 0, intros_to_target = 0, lookups_lost = 0;

  std::uint32_t receiverIndex(std::span<const std::uint8_t> d) {
    auto f = protocol::classify(d);
    if (f == protocol::PacketFamily::kHandshake) {
      auto p = protocol::parseHandshake(d);
      return p ? p->receiver_index : 0;
    }
    auto h = protocol::parseSealedHeader(d);
    return h ? h->receiver_index : 0;
  }

  // Reads everything pending on every socket and hands it to the peers.
  template <typename OnMessage>
  void receive(int timeout_ms, OnMessage&& on_message) {
    std::vector<pollfd> p;
    for (int fd : fds) {
      p.push_back(pollfd{fd, POLLIN, 0});
    }
    if (::poll(p.data(), p.size(), timeout_ms) <= 0) {
      return;
    }
    Instant now = Clock::now();
    for (std::size_t s = 0; s < fds.size(); ++s) {
      for (int i = 0; i < 4096; ++i) {
        ssize_t n = ::recv(fds[s], buf.data(), buf.size(), 0);
        if (n <= 0) {
          break;
        }
        auto d = std::span<std::uint8_t>(buf.data(), static_cast<std::size_t>(n));
        std::uint32_t idx = receiverIndex(d);
        if (idx == 0 || idx > slots.size()) {
          continue;
        }
        Slot& slot = slots[idx - 1];
        if (!slot.peer) {
          continue;
        }
        slot.peer->onDatagram(now, d, *sinks[slot.sock]);
        on_message(slot, now);
        slot.peer->inbox.clear();
      }
    }
  }

  void makePki() {
    std::string tmpl = (fs::temp_directory_path() / "vpnpeer-rvload-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    dir = tmpl;
    crypto::CaOptions ca;
    ca.name = "load-ca";
    crypto::createCa(ca, dir / "ca");
    crypto::SignOptions rv;
    rv.name = "rv-load";
    rv.rendezvous_role = true;
    crypto::signCertificate(dir / "ca", rv, dir / "rv");
    // signCertificate fsyncs each file, so signing is I/O-bound: sign on several threads.
    Instant t = Clock::now();
    constexpr std::size_t kThreads = 16;
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < kThreads; ++w) {
      workers.emplace_back([this, w] {
        for (std::size_t i = w; i < args.peers; i += kThreads) {
          crypto::SignOptions o;
          o.name = "peer" + std::to_string(i);
          auto a = static_cast<std::uint32_t>(0x0A000000u + i + 1);
          o.addresses.push_back(protocol::IpPrefix(protocol::IpAddress::v4(a), 8));
          crypto::signCertificate(dir / "ca", o, dir / o.name);
        }
      });
    }
    for (auto& w : workers) {
      w.join();
    }
    std::printf("signed %zu peer certificates (one each, Ed25519) in %.1f s\n", args.peers,
                since(t));
  }

  void startServer() {
    int probe = udpSocket(0);
    port = localPort(probe);
    ::close(probe);
    std::ofstream cfg(dir / "rendezvous.toml");
    cfg << "[rendezvous]\nlisten = \"127.0.0.1:" << port << "\"\nca = \"ca.crt\"\n"
        << "cert = \"rv.crt\"\nkey = \"rv.key\"\nrefresh = 3600\nlog_level = \"warn\"\n"
        << "handshake_rate = 1000000\nhandshake_burst = 1000000\n"
        << "handshake_network_rate = 1000000\nhandshake_network_burst = 1000000\n"
        << "handshake_global_rate = 1000000\nhandshake_global_burst = 1000000\n"
        << "max_pending_handshakes = 100000\nlookup_rate = 1000000\nlookup_burst = 1000000\n";
    cfg.close();
    server = ::fork();
    if (server == 0) {
      std::string c = (dir / "rendezvous.toml").string();
      ::execl(args.server.c_str(), args.server.c_str(), "-c", c.c_str(), nullptr);
      std::perror("exec vpnpeer-rendezvous");
      std::_Exit(127);
    }
    // Ready when it answers a STUN Binding request (which also checks the reflector live).
    int fd = udpSocket(0);
    UdpSink sink(fd, port);
    protocol::BindingRequestParams req;
    req.transaction_id.fill(7);
    std::array<std::uint8_t, protocol::kStunMaxBuiltSize> out{};
    std::size_t n = protocol::buildBindingRequest(req, out);
    for (int i = 0; i < 100; ++i) {
      sink.sendDatagram({}, std::span<const std::uint8_t>(out.data(), n));
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
        auto m = protocol::parseStun(std::span<const std::uint8_t>(
            buf.data(), static_cast<std::size_t>(std::max<ssize_t>(got, 0))));
        if (m && m->xor_mapped && m->xor_mapped->port() == localPort(fd)) {
          std::printf("server pid %d up on 127.0.0.1:%u; STUN answered with %s\n", server, port,
                      m->xor_mapped->toString().c_str());
          ::close(fd);
          return;
        }
      }
    }
    std::fprintf(stderr, "rendezvous_load: the server did not answer STUN on port %u\n", port);
    std::exit(1);
  }

  void startHandshake(std::size_t i, Instant now) {
    Slot& s = slots[i];
    crypto::TlsContextOptions o;
    std::string name = "peer" + std::to_string(i);
    o.ca_cert = dir / "ca.crt";
    o.cert = dir / (name + ".crt");
    o.key = dir / (name + ".key");
    Instant t = Clock::now();
    s.tls = crypto::TlsContext::create(o);
    context_seconds += since(t);
    s.peer = std::make_unique<test::RvTestPeer>(*s.tls, name, "rv-load",
                                                protocol::Endpoint(protocol::IpAddress::v4(0x7f000001u), port));
    s.sock = i % fds.size();
    s.state = State::kHandshaking;
    s.started = now;
    s.peer->start(now, *sinks[s.sock], static_cast<std::uint32_t>(i + 1));
  }

  void sendRegister(Slot& s, Instant now) {
    std::uint32_t i = s.peer->localIndex() - 1;
    protocol::Candidate c{protocol::CandidateKind::kLocal,
                          protocol::Endpoint(protocol::IpAddress::v4(0xC0A80000u + (i & 0xFFFF)),
                                             51820)};
    s.peer->sendRegister({c}, *sinks[s.sock]);
    s.register_sent = now;
    s.register_tries++;
  }

  // Registers peers [begin, end); returns how many made it.
  std::size_t registerRange(Instant deadline, std::size_t begin, std::size_t end) {
    std::size_t next = begin, inflight = 0, registered = 0, failed = 0, failed_handshake = 0;
    std::vector<std::size_t> active;
    Instant last_timer = Clock::now();
    while (registered + failed < end - begin && Clock::now() < deadline) {
      Instant now = Clock::now();
      // A few new peers per turn: loading a TLS context takes milliseconds, and the replies to
      // the peers already in flight must not wait behind a whole window of them.
      for (int started = 0; started < 8 && inflight < args.window && next < end; ++started) {
        startHandshake(next, now);
        active.push_back(next++);
        inflight++;
      }
      receive(5, [&](Slot& s, Instant t) {
        if (s.state == State::kHandshaking && s.peer->established()) {
          s.state = State::kRegistering;
          sendRegister(s, t);
        }
        if (s.state == State::kRegistering &&
            std::any_of(s.peer->inbox.begin(), s.peer->inbox.end(), [](const auto& m) {
              return std::holds_alternative<protocol::RegisteredMsg>(m);
            })) {
          s.state = State::kRegistered;
          s.peer->releaseHandshake();
          s.tls.reset();
          registered++;
          inflight--;
        }
      });
      if (since(last_timer) >= 0.05) {
        now = Clock::now();
        last_timer = now;
        std::vector<std::size_t> still;
        for (std::size_t i : active) {
          Slot& s = slots[i];
          if (s.state == State::kHandshaking) {
            if (s.peer->failed() || toSeconds(now - s.started) > 15) {
              s.state = State::kFailed;
              s.peer.reset();
              s.tls.reset();
              failed++;
              failed_handshake++;
              inflight--;
              continue;
            }
            s.peer->onTimer(now, *sinks[s.sock]);
            if (s.peer->established()) {
              s.state = State::kRegistering;
              sendRegister(s, now);
            }
          } else if (s.state == State::kRegistering && toSeconds(now - s.register_sent) > 1) {
            if (s.register_tries >= 5) {
              s.state = State::kFailed;
              failed++;
              inflight--;
              continue;
            }
            sendRegister(s, now);
          }
          if (s.state == State::kHandshaking || s.state == State::kRegistering) {
            still.push_back(i);
          }
        }
        active.swap(still);
      }
    }
    if (failed != 0) {
      std::printf("%zu peers failed to register (%zu handshake timeouts or failures, %zu without "
                  "a REGISTERED after 5 tries)\n",
                  failed, failed_handshake, failed - failed_handshake);
    }
    return registered;
  }

  void lookupAll(Instant deadline, const std::vector<std::size_t>& reg) {
    std::mt19937_64 rng(42);
    std::uint32_t next_id = 1;
    std::size_t sent = 0;
    Instant last_expire = Clock::now();
    while ((sent < args.lookups || !outstanding.empty()) && Clock::now() < deadline) {
      Instant now = Clock::now();
      while (sent < args.lookups && outstanding.size() < args.window * 4) {
        std::size_t a = reg[rng() % reg.size()];
        std::size_t b = reg[rng() % reg.size()];
        if (a == b) {
          continue;
        }
        Slot& s = slots[a];
        std::uint32_t id = next_id++;
        outstanding.emplace(id, now);
        s.peer->sendLookup(id, "peer" + std::to_string(b), *sinks[s.sock]);
        sent++;
      }
      receive(1, [&](Slot& s, Instant) {
        for (const auto& m : s.peer->inbox) {
          if (const auto* in = std::get_if<protocol::IntroduceMsg>(&m)) {
            if (in->request_id == 0) {
              intros_to_target++;
            } else if (outstanding.erase(in->request_id) != 0) {
              lookups_done++;
            }
          } else if (const auto* f = std::get_if<protocol::LookupFailedMsg>(&m)) {
            if (outstanding.erase(f->request_id) != 0) {
              lookups_failed++;
            }
          }
        }
      });
      if (since(last_expire) > 0.5) {
        last_expire = Clock::now();
        for (auto it = outstanding.begin(); it != outstanding.end();) {
          if (toSeconds(last_expire - it->second) > 2) {
            lookups_lost++;
            it = outstanding.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args args;
  args.server = (fs::path(argv[0]).parent_path() / ".." / "rendezvous" / "vpnpeer-rendezvous")
                    .lexically_normal()
                    .string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--server") {
      args.server = v;
    } else if (k == "--peers") {
      args.peers = std::stoul(v);
    } else if (k == "--lookups") {
      args.lookups = std::stoul(v);
    } else if (k == "--window") {
      args.window = std::stoul(v);
    } else if (k == "--sockets") {
      args.sockets = std::max<std::size_t>(1, std::stoul(v));
    } else if (k == "--time-limit") {
      args.time_limit = std::stod(v);
    } else {
      std::fprintf(stderr, "usage: rendezvous_load [--server PATH] [--peers N] [--lookups M] "
                           "[--window W] [--sockets K] [--time-limit S]\n");
      return 2;
    }
  }
  Bench b;
  b.args = args;
  Instant t0 = Clock::now();
  Instant deadline = t0 + std::chrono::duration_cast<Duration>(
                              std::chrono::duration<double>(args.time_limit));
  b.makePki();
  b.startServer();
  for (std::size_t i = 0; i < args.sockets; ++i) {
    b.fds.push_back(udpSocket(0));
    b.sinks.push_back(std::make_unique<UdpSink>(b.fds.back(), b.port));
  }
  b.slots.resize(args.peers);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  long rss0 = rssKb(b.server);

  // Two waves: glibc keeps freed memory (the first wave's TLS state) for reuse rather than
  // returning it, so the steady-state cost per peer is the RSS growth over the second wave.
  double cpu0 = cpuSeconds(b.server);
  std::size_t half = args.peers / 2;
  std::size_t registered = b.registerRange(deadline, 0, half);
  std::this_thread::sleep_for(std::chrono::milliseconds(6500));  // past the 5 s linger
  long rss1 = rssKb(b.server);
  Instant t_wave2 = Clock::now();
  double cpu_wave2 = cpuSeconds(b.server);
  std::size_t registered2 = b.registerRange(deadline, half, args.peers);
  double wave2_s = since(t_wave2);
  double wave2_cpu = cpuSeconds(b.server) - cpu_wave2;
  registered += registered2;
  double reg_cpu = cpuSeconds(b.server) - cpu0;
  long rss2 = rssKb(b.server);
  std::this_thread::sleep_for(std::chrono::milliseconds(6500));
  long rss3 = rssKb(b.server);
  std::printf("(bench side: %.2f s loading peer TLS contexts)\n", b.context_seconds);
  std::printf("registered %zu/%zu peers; second wave %zu in %.2f s: %.0f registrations/s "
              "(server CPU %.2f s, %.0f per CPU-second); server CPU for all %.2f s\n",
              registered, args.peers, registered2, wave2_s,
              static_cast<double>(registered2) / wave2_s, wave2_cpu,
              static_cast<double>(registered2) / std::max(wave2_cpu, 1e-9), reg_cpu);
  std::printf("server RSS: %ld kB at start, %ld kB after wave 1 (%zu peers), %ld kB right after "
              "wave 2, %ld kB settled\n",
              rss0, rss1, half, rss2, rss3);
  std::printf("  -> %.0f bytes per registered peer over wave 2 (steady state), %.0f bytes per "
              "peer overall including the transient TLS state malloc keeps\n",
              registered2 ? static_cast<double>(rss3 - rss1) * 1024.0 /
                                static_cast<double>(registered2)
                          : 0.0,
              registered ? static_cast<double>(rss3 - rss0) * 1024.0 /
                               static_cast<double>(registered)
                         : 0.0);

  std::vector<std::size_t> reg;
  for (std::size_t i = 0; i < b.slots.size(); ++i) {
    if (b.slots[i].state == State::kRegistered) {
      reg.push_back(i);
    }
  }
  if (reg.size() >= 2 && args.lookups > 0) {
    Instant t_look = Clock::now();
    double cpu1 = cpuSeconds(b.server);
    b.lookupAll(deadline, reg);
    double look_s = since(t_look);
    double look_cpu = cpuSeconds(b.server) - cpu1;
    std::printf("lookups: %llu introduced, %llu failed, %llu lost, %llu introductions to "
                "targets in %.2f s: %.0f lookups/s (server CPU %.2f s, %.0f per CPU-second)\n",
                static_cast<unsigned long long>(b.lookups_done),
                static_cast<unsigned long long>(b.lookups_failed),
                static_cast<unsigned long long>(b.lookups_lost),
                static_cast<unsigned long long>(b.intros_to_target), look_s,
                static_cast<double>(b.lookups_done) / look_s, look_cpu,
                static_cast<double>(b.lookups_done) / std::max(look_cpu, 1e-9));
  }
  std::printf("server RSS at the end: %ld kB\n", rssKb(b.server));
  ::kill(b.server, SIGTERM);
  int status = 0;
  ::waitpid(b.server, &status, 0);
  std::printf("server exited with %d; total %.1f s\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              since(t0));
  std::error_code ec;
  fs::remove_all(b.dir, ec);
  return 0;
}
