#pragma once
// NetError: thrown by the net/ edges at start-up (open, listen, create) with one clear sentence
// meant for the operator. Never thrown on the per-packet path.
#include <stdexcept>

namespace vpn::net {

class NetError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace vpn::net
