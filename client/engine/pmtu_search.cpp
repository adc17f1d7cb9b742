#include "client/engine/pmtu_search.hpp"

#include <algorithm>

namespace vpn::client {

std::string_view PmtuSearch::stateName() const {
  switch (state_) {
    case State::kOff:
      return "off";
    case State::kSearching:
      return "searching";
    case State::kDone:
      return "done";
    case State::kUnsupported:
      return "unsupported";
  }
  return "off";
}

void PmtuSearch::reset(Instant now, std::size_t max, bool off) {
  max_ = max;
  mtu_ = max;
  low_ = 0;
  high_ = max + 1;
  optimistic_ = true;
  outstanding_ = false;
  losses_ = 0;
  first_ = std::min(options_.base, max);
  if (off || max == 0) {
    state_ = State::kOff;
    deadline_ = kNever;
    return;
  }
  state_ = State::kSearching;
  deadline_ = now;
}

std::size_t PmtuSearch::nextSize() const {
  if (low_ == 0) {
    return first_;
  }
  if (high_ > max_) {
    return max_;  // the largest first: when it fits, one probe ends the search
  }
  return low_ + (high_ - low_) / 2;
}

void PmtuSearch::finish(Instant now) {
  state_ = State::kDone;
  if (low_ >= max_) {
    mtu_ = max_;
  } else if (!optimistic_) {
    mtu_ = low_;
  }
  deadline_ = now + options_.raise_interval;
}

void PmtuSearch::decide(Instant now) {
  if (low_ >= max_ || (!optimistic_ && low_ != 0 && high_ - low_ <= options_.step)) {
    finish(now);
    return;
  }
  deadline_ = now;  // the next size at once
}

void PmtuSearch::lost(Instant now) {
  outstanding_ = false;
  if (++losses_ < options_.max_probes) {
    deadline_ = now;  // the same size again
    return;
  }
  losses_ = 0;
  high_ = probing_;
  if (low_ == 0) {
    if (first_ == std::min(options_.base, max_)) {
      // Not even the small probe came back: a peer without probes (or a path below any
      // sensible MTU). Leave the MTU as configured and try again much later.
      state_ = State::kUnsupported;
      mtu_ = max_;
      optimistic_ = true;
      deadline_ = now + options_.raise_interval;
      return;
    }
    // A periodic search found the current size gone (the path changed under us): start low.
    first_ = std::min(options_.base, max_);
    mtu_ = first_;
    optimistic_ = false;
    high_ = max_ + 1;
    deadline_ = now;
    return;
  }
  if (probing_ == max_ && optimistic_) {
    optimistic_ = false;  // the TUN MTU does not fit: from now on only proven sizes
    mtu_ = low_;
  }
  decide(now);
}

std::optional<PmtuSearch::Probe> PmtuSearch::poll(Instant now, std::optional<Duration> srtt,
                                                  std::uint64_t token) {
  if (now < deadline_) {
    return std::nullopt;
  }
  switch (state_) {
    case State::kOff:
      return std::nullopt;
    case State::kDone:
    case State::kUnsupported:
      // Search again: upwards from the size in use (RFC 8899 section 5.1.4), or from the start
      // for a peer that did not answer.
      low_ = 0;
      high_ = max_ + 1;
      losses_ = 0;
      first_ = state_ == State::kDone ? mtu_ : std::min(options_.base, max_);
      state_ = State::kSearching;
      break;
    case State::kSearching:
      break;
  }
  bool retry = false;
  if (outstanding_) {
    lost(now);
    if (state_ != State::kSearching || now < deadline_) {
      return std::nullopt;
    }
    retry = losses_ != 0;
  }
  if (!retry) {
    probing_ = nextSize();
  }
  token_ = token;
  outstanding_ = true;
  Duration wait = srtt ? *srtt * 3 : options_.min_timeout;
  deadline_ = now + std::clamp(wait, options_.min_timeout, options_.max_timeout);
  return Probe{probing_, token};
}

bool PmtuSearch::onAck(Instant now, std::uint64_t token, std::size_t size) {
  if (!outstanding_ || state_ != State::kSearching || token != token_ || size != probing_) {
    return false;
  }
  outstanding_ = false;
  losses_ = 0;
  low_ = std::max(low_, probing_);
  if (!optimistic_) {
    mtu_ = std::max(mtu_, low_);
  }
  decide(now);
  return true;
}

}  // namespace vpn::client
