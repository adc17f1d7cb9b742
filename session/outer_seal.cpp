#include "session/outer_seal.hpp"

#include <algorithm>

#include "crypto/random.hpp"
#include "protocol/sealed_packet.hpp"

namespace vpn::session {
namespace {

constexpr auto kSuite = crypto::CipherSuite::kChaCha20Poly1305;
static_assert(crypto::kIvSize == protocol::kSealedNonceSize);
static_assert(crypto::kTagSize == protocol::kSealedTagSize);

}  // namespace

OuterSeal::OuterSeal(const crypto::NetworkKey& key)
    : fingerprint_(key.fingerprint()), source_(key.sourceName()) {
  key_.key = key.sealKey();
}

OuterSeal::~OuterSeal() { key_.wipe(); }

std::size_t OuterSeal::seal(std::span<const std::uint8_t> inner, std::span<std::uint8_t> out) {
  const std::size_t total = inner.size() + protocol::kSealedOverhead;
  if (inner.empty() || inner.size() > protocol::kMaxSealedInner || out.size() < total ||
      !protocol::sealable(inner)) {
    return 0;
  }
  out[0] = protocol::kTypeSealed;
  crypto::randomBytes(key_.iv);
  std::copy(key_.iv.begin(), key_.iv.end(), out.begin() + 1);
  auto body = out.subspan(protocol::kSealedHeaderSize, inner.size());
  std::copy(inner.begin(), inner.end(), body.begin());
  auto tag = out.subspan(protocol::kSealedHeaderSize + inner.size(), protocol::kSealedTagSize);
  if (!aead_.seal(kSuite, key_, 0, out.first(1), body,
                  std::span<std::uint8_t, crypto::kTagSize>(tag.data(), crypto::kTagSize))) {
    return 0;
  }
  return total;
}

std::span<std::uint8_t> OuterSeal::open(std::span<std::uint8_t> datagram) {
  auto view = protocol::parseSealed(datagram);
  if (!view) {
    return {};
  }
  std::copy(view->header.begin() + 1, view->header.end(), key_.iv.begin());
  if (!aead_.open(kSuite, key_, 0, view->header.first(1), view->body,
                  std::span<const std::uint8_t, crypto::kTagSize>(view->tag.data(),
                                                                  crypto::kTagSize))) {
    return {};
  }
  return view->body;
}

}  // namespace vpn::session
