#pragma once
// NetworkKey: the optional outer key every member of one network shares (peers and rendezvous
// servers alike). It seals every handshake, cookie reply and STUN message (session/outer_seal.hpp),
// so a host without it gets no answer at all (docs/hardening.md, "Network key").
//
// Two sources:
//   - a key file, made by `vpnpeer network-key new FILE`: 32 random bytes, base64 on one line
//     (lines starting with '#' are comments). A secret of its own, which can be replaced without a
//     new CA. Refused if group or others may read it.
//   - the network's CA certificate: no extra file to distribute, but only as secret as the CA
//     certificate, which every member and every old copy of a member's files holds. It stops
//     scanners and strangers, not a former member.
// The seal key is HKDF-SHA256 of the source (ikm) with a fixed salt, so the same bytes never
// serve as key for anything else. The fingerprint (16 hex digits, derived with a different
// label) tells administrators whether two hosts hold the same key without showing it.
//
// Errors: the functions that read or write files throw CryptoError with one sentence naming the
// file. Thread-safe: no shared state. Key bytes are wiped by the destructor.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/certificate.hpp"  // CryptoError

namespace vpn::crypto {

class NetworkKey {
 public:
  enum class Source { kFile, kCa };
  static constexpr std::size_t kSize = 32;

  NetworkKey(Source source, std::span<const std::uint8_t> ikm);
  ~NetworkKey();
  NetworkKey(const NetworkKey& other);
  NetworkKey& operator=(const NetworkKey& other);

  Source source() const { return source_; }
  // The AEAD key that seals and opens outer packets.
  const std::array<std::uint8_t, kSize>& sealKey() const { return seal_key_; }
  const std::string& fingerprint() const { return fingerprint_; }
  // "file" or "ca", as `status` and `check` print it.
  std::string_view sourceName() const { return source_ == Source::kFile ? "file" : "ca"; }

 private:
  Source source_;
  std::array<std::uint8_t, kSize> seal_key_{};
  std::string fingerprint_;
};

// 32 fresh random bytes, written as a new key file with mode 0600 (refuses to overwrite). Returns
// the key's fingerprint.
std::string writeNewNetworkKey(const std::filesystem::path& path);
// Reads a key file. Throws if it is missing, readable by group or others, or not one line of
// base64 holding exactly 32 bytes.
NetworkKey readNetworkKeyFile(const std::filesystem::path& path);
// The key derived from the CA certificate's DER encoding. Throws if the file is not a PEM
// certificate.
NetworkKey networkKeyFromCa(const std::filesystem::path& ca_pem);
// What a configuration asks for: the CA-derived key, the key in `file`, or (neither) none.
std::optional<NetworkKey> loadNetworkKey(bool from_ca, const std::filesystem::path& file,
                                         const std::filesystem::path& ca_pem);

}  // namespace vpn::crypto
