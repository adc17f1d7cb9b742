// udp_gso_send: a paced UDP load made of 64 KiB GSO sends (UDP_SEGMENT), for bench/worker_gain.sh.
// Sent into a vpnpeer TUN device that takes UDP super-packets (tun-uso), each send reaches
// vpnpeer as one read of about 45 datagrams, so the load costs this process one syscall per
// 64 KiB and leaves the rest of its core to whatever shares it.
//
//   udp_gso_send --dest 10.42.0.2:9 --seconds 10 --gbps 16 [--segment 1372] [--segments 47]
//                [--burst 8]
//
// Pacing: --burst GSO sends in one sendmmsg every (burst x segment x segments x 8 / gbps) ns on
// an absolute clock, so that the process wakes up rarely (each wake-up costs whoever shares its
// core a context switch); after a stall of more than 2 ms the clock restarts instead of catching
// up. A send the kernel refuses (ENOBUFS, a full queue) is counted and not retried. Prints one
// line of counters on stdout:
//   sends=N errors=N bytes=N seconds=S cpu_seconds=C
// Build: see bench/tools/CMakeLists.txt, or g++ -std=c++20 -O2 -o udp_gso_send udp_gso_send.cpp
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace {

std::int64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double cpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "udp_gso_send: %s\nusage: udp_gso_send --dest IPv4:PORT --seconds N --gbps R "
               "[--segment BYTES] [--segments N] [--burst N]\n",
               why);
  std::exit(2);
}

bool parseDest(const std::string& s, sockaddr_in& out) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  out = {};
  out.sin_family = AF_INET;
  char* end = nullptr;
  const long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) return false;
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  return ::inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  sockaddr_in dest{};
  bool have_dest = false;
  double seconds = 0, gbps = 0;
  long segment = 1372, segments = 47, burst = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--dest") {
      if (!parseDest(v, dest)) usage("--dest must be IPv4:PORT");
      have_dest = true;
    } else if (a == "--seconds") {
      seconds = std::atof(v);
    } else if (a == "--gbps") {
      gbps = std::atof(v);
    } else if (a == "--segment") {
      segment = std::atol(v);
    } else if (a == "--segments") {
      segments = std::atol(v);
    } else if (a == "--burst") {
      burst = std::atol(v);
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (!have_dest) usage("--dest is required");
  if (seconds <= 0 || seconds > 3600) usage("--seconds must be in (0, 3600]");
  if (gbps <= 0 || gbps > 400) usage("--gbps must be in (0, 400]");
  if (segment < 64 || segment > 8972) usage("--segment must be in [64, 8972]");
  // The kernel takes at most 64 segments and 65507 payload bytes in one GSO send.
  if (segments < 1 || segments > 64 || segment * segments > 65507) usage("--segments too large");
  if (burst < 1 || burst > 64) usage("--burst must be in [1, 64]");

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  const int seg = static_cast<int>(segment);
  if (::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) != 0) {
    std::perror("setsockopt(UDP_SEGMENT)");
    return 1;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0) {
    std::perror("connect");
    return 1;
  }
  const std::size_t len = static_cast<std::size_t>(segment * segments);
  std::vector<std::uint8_t> payload(len, 0x5a);
  const auto n_msgs = static_cast<unsigned>(burst);
  std::vector<iovec> iov(n_msgs, iovec{payload.data(), len});  // every message the same bytes
  std::vector<mmsghdr> msgs(n_msgs);
  for (unsigned i = 0; i < n_msgs; ++i) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const auto interval =
      static_cast<std::int64_t>(static_cast<double>(len) * static_cast<double>(burst) * 8.0 / gbps);

  std::uint64_t sends = 0, errors = 0, bytes = 0;
  const double cpu0 = cpuSeconds();
  const std::int64_t start = nowNs();
  const std::int64_t stop = start + static_cast<std::int64_t>(seconds * 1e9);
  std::int64_t next = start;
  for (std::int64_t now = start; now < stop; now = nowNs()) {
    if (now < next) {
      const std::int64_t wait = next - now;
      const timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      ::nanosleep(&ts, nullptr);
      continue;
    }
    if (now - next > 2'000'000) next = now;  // stalled: do not catch up with a burst
    next += interval;
    const int sent = ::sendmmsg(fd, msgs.data(), n_msgs, 0);
    const unsigned ok = sent > 0 ? static_cast<unsigned>(sent) : 0;
    sends += ok;
    bytes += ok * len;
    errors += n_msgs - ok;
  }
  const double elapsed = static_cast<double>(nowNs() - start) / 1e9;
  std::printf("sends=%llu errors=%llu bytes=%llu seconds=%.3f cpu_seconds=%.3f\n",
              static_cast<unsigned long long>(sends), static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(bytes), elapsed, cpuSeconds() - cpu0);
  ::close(fd);
  return 0;
}
