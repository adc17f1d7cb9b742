#pragma once
// MappingLifetime: how long our NAT keeps an idle UDP mapping, measured against a STUN server that
// honours RESPONSE-PORT (the rendezvous), as RFC 5780 section 4.6 describes. I/O-free.
//
// One test socket per idle time tried (config.idle, shortest first), plus the caller's "sender"
// socket (socket 0; the daemon uses the tunnel's own port, whose public address is the same NAT
// address). For test socket i:
//   1. a Binding request from it, answered with its mapped endpoint M_i (retransmitted on rto);
//   2. `settle` later, a second one: the mapping now carries a flow both ways for a while, the
//      state a tunnel's mapping is in (Linux conntrack, for one, keeps such flows longer);
//   3. idle_i after that answer, the sender asks with RESPONSE-PORT = M_i's port; the server
//      answers to our NAT address at that port, from the address test socket i talked to. If the
//      answer reaches socket i within answer_wait (the request is resent once halfway), the
//      mapping outlived idle_i; if not, it was gone.
// The first idle time should be 0: a control. If the control gets no answer (the server does not
// honour RESPONSE-PORT, or the test socket leaves with another public address), the measurement
// fails and says why instead of reporting a lifetime. Once one idle time is lost, longer ones are
// not waited for. Result: the longest idle time kept and the shortest lost; the NAT's timeout
// lies between them.
//
// Answers are matched by transaction id and socket; everything else is ignored. Not thread-safe;
// no I/O and no clock of its own. Never throws except std::bad_alloc.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/ip_address.hpp"
#include "protocol/stun.hpp"

namespace vpn::netcheck {

using TimePoint = std::chrono::steady_clock::time_point;

struct MappingLifetimeConfig {
  protocol::Endpoint server;
  // Idle times to try, shortest first; the first is the control (0 s).
  std::vector<std::chrono::seconds> idle = {
      std::chrono::seconds(0),  std::chrono::seconds(10), std::chrono::seconds(20),
      std::chrono::seconds(30), std::chrono::seconds(45), std::chrono::seconds(60),
      std::chrono::seconds(90), std::chrono::seconds(120), std::chrono::seconds(180)};
  std::chrono::milliseconds settle{3000};
  std::chrono::milliseconds rto{500};
  int tries = 4;                                // per setup request
  std::chrono::milliseconds answer_wait{2000};  // per check
  // The sender's public address, when known: a test socket mapped to another one cannot be
  // tested (the server answers to the sender's address).
  std::optional<protocol::IpAddress> sender_public;
  std::string software = "vpnpeer";
};

struct MappingLifetimeResult {
  enum class State : std::uint8_t { kMeasuring, kDone, kFailed };
  State state = State::kMeasuring;
  std::optional<std::chrono::seconds> kept;  // the longest idle time the mapping survived
  std::optional<std::chrono::seconds> lost;  // the shortest idle time it did not
  std::string note;                          // why it failed, in words
};
std::string_view toString(MappingLifetimeResult::State s);  // "measuring" | "done" | "failed"

struct LifetimeSend {
  std::size_t socket = 0;  // 0: the sender; i + 1: test socket i
  protocol::Endpoint to;
  std::vector<std::uint8_t> bytes;
};

class MappingLifetime {
 public:
  using IdSource = std::function<protocol::StunTransactionId()>;

  MappingLifetime(MappingLifetimeConfig config, IdSource new_id);

  // Test sockets the caller must open (socket numbers 1..testSockets()).
  std::size_t testSockets() const { return config_.idle.size(); }
  void start(TimePoint now);
  void onDatagram(TimePoint now, std::size_t socket, const protocol::Endpoint& from,
                  std::span<const std::uint8_t> bytes);
  void onTimer(TimePoint now);
  std::vector<LifetimeSend> takeOutgoing();
  std::optional<TimePoint> nextDeadline() const;
  bool done() const { return result_.state != MappingLifetimeResult::State::kMeasuring; }
  const MappingLifetimeResult& result() const { return result_; }

 private:
  enum class Step : std::uint8_t { kSetup1, kSettle, kSetup2, kIdle, kCheck, kKept, kLost, kOff };
  struct Probe {
    Step step = Step::kSetup1;
    protocol::StunTransactionId txid{};
    std::optional<protocol::Endpoint> mapped;
    TimePoint next{};      // the next send or the step's deadline
    TimePoint give_up{};   // setup: no answer by then
    std::chrono::milliseconds rto{0};
    int sent = 0;
  };

  void send(std::size_t socket, const protocol::StunTransactionId& id,
            std::optional<std::uint16_t> response_port);
  void setup(TimePoint now, std::size_t i);
  void check(TimePoint now, std::size_t i);
  void fail(const std::string& why);
  void conclude();

  MappingLifetimeConfig config_;
  IdSource new_id_;
  std::vector<Probe> probes_;
  std::vector<LifetimeSend> outgoing_;
  MappingLifetimeResult result_;
};

}  // namespace vpn::netcheck
