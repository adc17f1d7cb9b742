// seal_batch_bench: how fast session::AeadBatch seals TUN-read-sized batches (45 packets of 1400
// bytes, what one 64 KiB TSO read becomes) with 1, 2, ... lanes, on an otherwise idle machine.
// This isolates the sealing threads from the rest of the data path: bench/bench.sh measures the
// tunnel end to end (where, on 2 cores shared by both ends and iperf3, extra lanes do not pay).
//
//   seal_batch_bench [--seconds S] [--max-lanes N] [--batch B] [--size BYTES]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "session/aead_batch.hpp"
#include "crypto/aead.hpp"
#include "protocol/data_packet.hpp"

namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  std::size_t max_lanes = std::max(1u, std::thread::hardware_concurrency());
  std::size_t batch = 45, size = 1400;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    double v = std::atof(argv[i + 1]);
    if (a == "--seconds") {
      seconds = v;
    } else if (a == "--max-lanes") {
      max_lanes = static_cast<std::size_t>(v);
    } else if (a == "--batch") {
      batch = static_cast<std::size_t>(v);
    } else if (a == "--size") {
      size = static_cast<std::size_t>(v);
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (seconds <= 0 || seconds > 60 || batch == 0 || batch > 256 || size == 0 || size > 9000) {
    std::fprintf(stderr, "options out of range\n");
    return 2;
  }
  std::array<std::uint8_t, vpn::crypto::kKeySize> key{};
  std::array<std::uint8_t, vpn::crypto::kIvSize> iv{};
  key.fill(7);
  iv.fill(9);
  vpn::crypto::AeadCipher cipher(vpn::crypto::CipherSuite::kAes256Gcm, key, iv);
  const std::size_t stride = vpn::protocol::kDataOverhead + size;
  std::vector<std::uint8_t> buf(stride * batch, 0x5a);
  std::printf("%-6s %12s %14s %16s\n", "lanes", "Gbit/s", "batches/s", "CPU s per GB");
  for (std::size_t lanes = 1; lanes <= max_lanes; ++lanes) {
    vpn::session::AeadBatch sb(lanes, 256);
    std::uint64_t counter = 0, batches = 0;
    double cpu0 = cpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    auto end = t0 + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      for (std::size_t i = 0; i < batch; ++i) {
        std::span<std::uint8_t> packet(buf.data() + i * stride, stride);
        sb.addSeal(packet, size, vpn::session::SealTicket{&cipher, counter++});
      }
      sb.run();
      ++batches;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = cpuSeconds() - cpu0;
    double bytes = static_cast<double>(batches * batch * size);
    std::printf("%-6zu %12.2f %14.0f %16.3f\n", lanes, bytes * 8 / wall / 1e9,
                static_cast<double>(batches) / wall, cpu / (bytes / 1e9));
    if (sb.sealFailures() != 0) {
      std::fprintf(stderr, "%llu packets failed to seal\n",
                   static_cast<unsigned long long>(sb.sealFailures()));
      return 1;
    }
  }
  return 0;
}
