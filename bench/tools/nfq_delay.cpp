// nfq_delay: add a fixed delay to packets in user space through NFQUEUE, for benchmarks on
// kernels without `tc netem` (bench/setup_time.sh). Every packet queued to our queue number is
// held for --delay-ms and then accepted unchanged.
//
//   nfq_delay --queue 0 --delay-ms 20 [--max-held 4096] [--trace]
//   nft add rule inet lab_delay fwd oifname "wan" queue num 0      (in the same network namespace)
//
// Why a FIFO and not a heap or a timer wheel: with one constant delay, packets are released in
// the order they arrived, so the oldest held packet is always the next one due and a deque is an
// exact priority queue with O(1) push and pop. The queue is bounded twice: the kernel queue length
// (--max-held; beyond it the kernel drops) and our own count (a packet over the bound gets NF_DROP
// at once, like a full router buffer). We copy only packet metadata, never payload: the verdict
// does not change the packet.
//
// --trace prints one line per IPv4 packet on stderr as it arrives (wall-clock ms, addresses and
// UDP ports, length, first UDP payload byte: vpnpeer's packet family), to see where the time of
// a connection set-up goes; it needs the first 48 bytes of each packet copied to us.
//
// On SIGINT/SIGTERM every held packet is accepted at once, then we unbind and print counters on
// stderr. Needs CAP_NET_ADMIN in the namespace (root). Build: see bench/tools/CMakeLists.txt, or
//   g++ -std=c++20 -O2 -o nfq_delay bench/tools/nfq_delay.cpp -lnetfilter_queue -lnfnetlink
#include <arpa/inet.h>
#include <linux/netfilter.h>  // NF_ACCEPT, NF_DROP
#include <poll.h>
#include <sys/socket.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

std::int64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Held {
  std::uint32_t id;        // the kernel's packet id, needed for the verdict
  std::int64_t release_ns;  // CLOCK_MONOTONIC
};

struct State {
  nfq_q_handle* qh = nullptr;
  std::deque<Held> held;
  std::int64_t delay_ns = 0;
  std::size_t max_held = 4096;
  std::uint64_t queued = 0, accepted = 0, dropped = 0, max_seen = 0, verdict_errors = 0;
  bool trace = false;
};

void tracePacket(nfq_data* nfa) {
  unsigned char* pkt = nullptr;
  const int len = nfq_get_payload(nfa, &pkt);
  if (len < 20 || pkt == nullptr || (pkt[0] >> 4) != 4) return;
  const int ihl = (pkt[0] & 0x0F) * 4;
  const unsigned total = (static_cast<unsigned>(pkt[2]) << 8) | pkt[3];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[160];
  int n = std::snprintf(line, sizeof line, "%lld.%03ld %u.%u.%u.%u", static_cast<long long>(ts.tv_sec),
                        ts.tv_nsec / 1'000'000, pkt[12], pkt[13], pkt[14], pkt[15]);
  const bool udp = pkt[9] == 17 && len >= ihl + 8;
  if (udp) n += std::snprintf(line + n, sizeof line - n, ":%u", (pkt[ihl] << 8) | pkt[ihl + 1]);
  n += std::snprintf(line + n, sizeof line - n, " > %u.%u.%u.%u", pkt[16], pkt[17], pkt[18], pkt[19]);
  if (udp) n += std::snprintf(line + n, sizeof line - n, ":%u", (pkt[ihl + 2] << 8) | pkt[ihl + 3]);
  n += std::snprintf(line + n, sizeof line - n, " proto %u len %u", pkt[9], total);
  if (udp && len > ihl + 8) std::snprintf(line + n, sizeof line - n, " first %02x", pkt[ihl + 8]);
  std::fprintf(stderr, "%s\n", line);
}

void verdict(State& st, std::uint32_t id, std::uint32_t v) {
  if (nfq_set_verdict(st.qh, id, v, 0, nullptr) < 0) st.verdict_errors++;
}

int onPacket(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
  auto& st = *static_cast<State*>(data);
  const nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == nullptr) return 0;
  const std::uint32_t id = ntohl(ph->packet_id);
  st.queued++;
  if (st.trace) tracePacket(nfa);
  if (st.held.size() >= st.max_held) {
    verdict(st, id, NF_DROP);
    st.dropped++;
    return 0;
  }
  st.held.push_back(Held{id, nowNs() + st.delay_ns});
  if (st.held.size() > st.max_seen) st.max_seen = st.held.size();
  return 0;
}

// Accepts every held packet that is due (all of them when `all`).
void releaseDue(State& st, bool all) {
  const std::int64_t now = nowNs();
  while (!st.held.empty() && (all || st.held.front().release_ns <= now)) {
    verdict(st, st.held.front().id, NF_ACCEPT);
    st.accepted++;
    st.held.pop_front();
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "nfq_delay: %s\nusage: nfq_delay --queue N --delay-ms MS [--max-held K] [--trace]\n", why);
  std::exit(2);
}

long numberArg(int& i, int argc, char** argv, long lo, long hi) {
  if (i + 1 >= argc) usage("missing value");
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(argv[++i], &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) usage("bad number");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  State st;
  long queue = -1, delay_ms = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--queue") queue = numberArg(i, argc, argv, 0, 65535);
    else if (a == "--delay-ms") delay_ms = numberArg(i, argc, argv, 0, 10'000);
    else if (a == "--trace") st.trace = true;
    else if (a == "--max-held") st.max_held = static_cast<std::size_t>(numberArg(i, argc, argv, 1, 1'000'000));
    else usage(("unknown argument " + a).c_str());
  }
  if (queue < 0 || delay_ms < 0) usage("--queue and --delay-ms are required");
  st.delay_ns = delay_ms * 1'000'000;

  nfq_handle* h = nfq_open();
  if (h == nullptr) {
    std::fprintf(stderr, "nfq_delay: nfq_open failed: %s (root? NFQUEUE in this kernel?)\n",
                 std::strerror(errno));
    return 1;
  }
  st.qh = nfq_create_queue(h, static_cast<std::uint16_t>(queue), &onPacket, &st);
  if (st.qh == nullptr) {
    std::fprintf(stderr, "nfq_delay: cannot bind queue %ld: %s (another listener on it?)\n", queue,
                 std::strerror(errno));
    nfq_close(h);
    return 1;
  }
  if (nfq_set_mode(st.qh, st.trace ? NFQNL_COPY_PACKET : NFQNL_COPY_META, st.trace ? 48 : 0) < 0 ||
      nfq_set_queue_maxlen(st.qh, static_cast<std::uint32_t>(st.max_held)) < 0) {
    std::fprintf(stderr, "nfq_delay: cannot configure queue %ld\n", queue);
    nfq_destroy_queue(st.qh);
    nfq_close(h);
    return 1;
  }
  const int fd = nfq_fd(h);
  // Bursts arrive faster than we read; a larger socket buffer keeps ENOBUFS away.
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  struct sigaction sa{};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::fprintf(stderr, "nfq_delay: queue %ld, delay %ld ms, at most %zu held\n", queue, delay_ms,
               st.max_held);

  alignas(8) static char buf[65536];
  std::uint64_t enobufs = 0;
  while (g_stop == 0) {
    int timeout_ms = -1;
    if (!st.held.empty()) {
      const std::int64_t wait_ns = st.held.front().release_ns - nowNs();
      // Round up so we never wake early and spin; 0 when already due.
      timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>((wait_ns + 999'999) / 1'000'000);
    }
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("nfq_delay: poll");
      break;
    }
    if (n > 0 && (p.revents & POLLIN) != 0) {
      // Drain what is there without blocking, then release what is due.
      for (int k = 0; k < 256; ++k) {
        const ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0) {
          if (errno == ENOBUFS) { enobufs++; continue; }  // the kernel dropped messages
          break;                                          // EAGAIN: drained
        }
        nfq_handle_packet(h, buf, static_cast<int>(r));
      }
    }
    releaseDue(st, false);
  }
  releaseDue(st, true);
  nfq_destroy_queue(st.qh);
  nfq_close(h);
  std::fprintf(stderr,
               "nfq_delay: queued %llu accepted %llu dropped %llu max_held %llu enobufs %llu "
               "verdict_errors %llu\n",
               static_cast<unsigned long long>(st.queued), static_cast<unsigned long long>(st.accepted),
               static_cast<unsigned long long>(st.dropped), static_cast<unsigned long long>(st.max_seen),
               static_cast<unsigned long long>(enobufs),
               static_cast<unsigned long long>(st.verdict_errors));
  return 0;
}
