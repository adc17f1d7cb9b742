#pragma once
// The TUN offloads use the Internet checksum helpers of protocol/checksum.hpp under their own
// namespace.
#include "protocol/checksum.hpp"

namespace vpn::tun {

using protocol::checksumAdd;
using protocol::checksumFold;
using protocol::getBe16;
using protocol::getBe32;
using protocol::pseudoHeaderSum;
using protocol::putBe16;
using protocol::putBe32;

}  // namespace vpn::tun
