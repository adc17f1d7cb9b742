#pragma once
// OuterSeal: seals and opens packets with the network key (crypto/network_key.hpp) in the layout
// of protocol/sealed_packet.hpp: ChaCha20-Poly1305 under the key's seal key, a fresh random 96-bit
// nonce per packet (handshake traffic is far below the 2^32 packets random nonces allow per key),
// the type byte as associated data.
//
// Both programs keep one OuterSeal and, when a network key is configured, seal every handshake
// packet, cookie reply and STUN message they send and open every sealed one they receive; plain
// ones are dropped unanswered. Opening authenticates only: the layers below still apply
// (cookies, admission, TLS), and a captured sealed packet can be replayed to the same effect as a
// captured plain one.
//
// Single-threaded; never throws after construction; no allocation per packet.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/aead.hpp"
#include "crypto/network_key.hpp"

namespace vpn::session {

class OuterSeal {
 public:
  explicit OuterSeal(const crypto::NetworkKey& key);
  ~OuterSeal();
  OuterSeal(const OuterSeal&) = delete;
  OuterSeal& operator=(const OuterSeal&) = delete;

  // Writes the sealed form of `inner` to `out` and returns its size; 0 if inner is empty, larger
  // than protocol::kMaxSealedInner, not a sealable family, or out is too small.
  std::size_t seal(std::span<const std::uint8_t> inner, std::span<std::uint8_t> out);
  // Opens a sealed datagram in place and returns the inner datagram (a view into `datagram`);
  // empty if it is not a sealed packet or does not authenticate under our key.
  std::span<std::uint8_t> open(std::span<std::uint8_t> datagram);

  const std::string& fingerprint() const { return fingerprint_; }
  std::string_view sourceName() const { return source_; }

 private:
  crypto::AeadKey key_;  // key_.iv holds the nonce of the packet at hand
  crypto::AeadScratch aead_;
  std::string fingerprint_;
  std::string_view source_;
};

}  // namespace vpn::session
