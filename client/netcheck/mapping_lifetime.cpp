#include "client/netcheck/mapping_lifetime.hpp"

#include <algorithm>

namespace vpn::netcheck {

std::string_view toString(MappingLifetimeResult::State s) {
  switch (s) {
    case MappingLifetimeResult::State::kMeasuring:
      return "measuring";
    case MappingLifetimeResult::State::kDone:
      return "done";
    case MappingLifetimeResult::State::kFailed:
      return "failed";
  }
  return "failed";
}

MappingLifetime::MappingLifetime(MappingLifetimeConfig config, IdSource new_id)
    : config_(std::move(config)), new_id_(std::move(new_id)) {
  std::sort(config_.idle.begin(), config_.idle.end());
}

void MappingLifetime::send(std::size_t socket, const protocol::StunTransactionId& id,
                           std::optional<std::uint16_t> response_port) {
  protocol::BindingRequestParams p;
  p.transaction_id = id;
  p.pad_to = protocol::kStunPaddedRequestSize;  // the server answers no more than it is sent
  p.response_port = response_port;
  protocol::StunBuildOptions opts;
  opts.software = config_.software;
  std::vector<std::uint8_t> buf(protocol::kStunPaddedRequestSize + 64);
  std::size_t n = protocol::buildBindingRequest(p, buf, opts);
  buf.resize(n);
  if (n != 0) {
    outgoing_.push_back({socket, config_.server, std::move(buf)});
  }
}

void MappingLifetime::setup(TimePoint now, std::size_t i) {
  Probe& p = probes_[i];
  if (p.sent == 0) {
    p.txid = new_id_();
    p.rto = config_.rto;
  }
  send(i + 1, p.txid, std::nullopt);
  ++p.sent;
  p.next = now + p.rto;
  p.rto *= 2;
}

void MappingLifetime::check(TimePoint now, std::size_t i) {
  Probe& p = probes_[i];
  p.step = Step::kCheck;
  p.txid = new_id_();
  p.sent = 1;
  p.next = now + config_.answer_wait / 2;
  p.give_up = now + config_.answer_wait;
  send(0, p.txid, p.mapped->port());
}

void MappingLifetime::start(TimePoint now) {
  probes_.assign(config_.idle.size(), Probe{});
  if (probes_.empty()) {
    fail("no idle times to try");
    return;
  }
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    setup(now, i);
  }
}

void MappingLifetime::fail(const std::string& why) {
  result_.state = MappingLifetimeResult::State::kFailed;
  result_.note = why;
  for (auto& p : probes_) {
    p.step = Step::kOff;
  }
}

void MappingLifetime::conclude() {
  if (done()) {
    return;
  }
  std::optional<std::chrono::seconds> lost;
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    if (probes_[i].step == Step::kLost && (!lost || config_.idle[i] < *lost)) {
      lost = config_.idle[i];
    }
  }
  bool active = false;
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    Probe& p = probes_[i];
    bool terminal = p.step == Step::kKept || p.step == Step::kLost || p.step == Step::kOff;
    if (!terminal && lost && config_.idle[i] > *lost) {
      p.step = Step::kOff;  // longer than one already lost: not worth the wait
      terminal = true;
    }
    active = active || !terminal;
  }
  if (probes_[0].step == Step::kLost) {
    fail("the control answer (no idle time) did not arrive: the server does not honour "
         "RESPONSE-PORT, or a filter drops it");
    return;
  }
  if (active) {
    return;
  }
  std::optional<std::chrono::seconds> kept;
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    if (probes_[i].step == Step::kKept && (!lost || config_.idle[i] < *lost)) {
      kept = config_.idle[i];
    }
  }
  if (!kept) {
    fail("no test socket could be set up");
    return;
  }
  result_.kept = kept;
  result_.lost = lost;
  result_.state = MappingLifetimeResult::State::kDone;
}

void MappingLifetime::onTimer(TimePoint now) {
  if (done()) {
    return;
  }
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    Probe& p = probes_[i];
    if (now < p.next) {
      continue;
    }
    switch (p.step) {
      case Step::kSetup1:
      case Step::kSetup2:
        if (p.sent >= config_.tries) {
          if (i == 0) {
            fail("the server did not answer the test sockets");
            return;
          }
          p.step = Step::kOff;
        } else {
          setup(now, i);
        }
        break;
      case Step::kSettle:
        p.step = Step::kSetup2;
        p.sent = 0;
        setup(now, i);
        break;
      case Step::kIdle:
        check(now, i);
        break;
      case Step::kCheck:
        if (now >= p.give_up) {
          p.step = Step::kLost;
        } else if (p.sent == 1) {
          send(0, p.txid, p.mapped->port());  // once more: one lost datagram is not a verdict
          p.sent = 2;
          p.next = p.give_up;
        }
        break;
      case Step::kKept:
      case Step::kLost:
      case Step::kOff:
        break;
    }
  }
  conclude();
}

void MappingLifetime::onDatagram(TimePoint now, std::size_t socket, const protocol::Endpoint& from,
                                 std::span<const std::uint8_t> bytes) {
  if (done() || !(from == config_.server)) {
    return;
  }
  auto m = protocol::parseStun(bytes);
  if (!m || m->method() != protocol::stunMethod(protocol::kStunBindingRequest)) {
    return;
  }
  const bool success = m->messageClass() == protocol::StunClass::kSuccess;
  const bool error = m->messageClass() == protocol::StunClass::kError;
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    Probe& p = probes_[i];
    if (p.txid != m->transaction_id) {
      continue;
    }
    if (socket == 0 && p.step == Step::kCheck) {
      // The answer to a RESPONSE-PORT request came back to the sender itself.
      fail(error && m->error ? "the server refuses RESPONSE-PORT (error " +
                                   std::to_string(m->error->code) + ")"
                             : "the server ignores RESPONSE-PORT");
      return;
    }
    if (socket != i + 1 || !success) {
      return;
    }
    switch (p.step) {
      case Step::kSetup1:
      case Step::kSetup2: {
        auto mapped = m->reflexive();
        if (!mapped) {
          return;
        }
        if (config_.sender_public && !(mapped->address() == *config_.sender_public)) {
          if (i == 0) {
            fail("the test sockets leave with public address " + mapped->address().toString() +
                 ", the tunnel with " + config_.sender_public->toString() +
                 ": this NAT cannot be measured this way");
            return;
          }
          p.step = Step::kOff;
          break;
        }
        p.mapped = mapped;
        if (p.step == Step::kSetup1) {
          p.step = Step::kSettle;
          p.next = now + config_.settle;
        } else {
          p.step = Step::kIdle;
          p.next = now + config_.idle[i];
        }
        break;
      }
      case Step::kCheck:
        p.step = Step::kKept;
        break;
      default:
        break;
    }
    break;
  }
  // A control at 0 s is checked at once.
  if (!done() && probes_[0].step == Step::kIdle && config_.idle[0].count() == 0) {
    check(now, 0);
  }
  conclude();
}

std::vector<LifetimeSend> MappingLifetime::takeOutgoing() {
  std::vector<LifetimeSend> out;
  out.swap(outgoing_);
  return out;
}

std::optional<TimePoint> MappingLifetime::nextDeadline() const {
  if (done()) {
    return std::nullopt;
  }
  std::optional<TimePoint> next;
  for (const Probe& p : probes_) {
    if (p.step == Step::kKept || p.step == Step::kLost || p.step == Step::kOff) {
      continue;
    }
    if (!next || p.next < *next) {
      next = p.next;
    }
  }
  return next;
}

}  // namespace vpn::netcheck
