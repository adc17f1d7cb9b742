#pragma once
// AeadCipher: one direction's data key. Seals and opens in place with a 96-bit nonce made of the
// per-key IV XOR the 64-bit packet counter (right-aligned, as TLS 1.3 builds record nonces), so a
// counter is never reused under one key as long as the caller never repeats it.
//
// Per-packet calls never allocate and take no lock: the OpenSSL cipher context is created once in
// the constructor and reused. One AeadCipher must be used from one thread at a time, except
// through lanes: prepareLanes(n) gives it n contexts holding the same key (copies of the first,
// made once), and sealOn/openOn(lane, ...) with distinct lanes may run on distinct threads at
// once. prepareLanes itself must not run while any lane is in use. One instance can both seal and
// open (each call re-initialises the context with its nonce and direction), though the data
// channel normally gives each direction its own instance.
// seal/open return false on failure (authentication failure for open); they never throw. The
// constructor throws CryptoError only if OpenSSL cannot provide the cipher.
//
// AeadScratch is the compact alternative for many low-rate keys (the rendezvous server's one
// session per registered peer): the caller keeps each key as 44 bytes of AeadKey, and one
// AeadScratch re-keys a shared context on every call. Same nonce construction and wire result as
// AeadCipher; re-keying costs a key schedule per packet (about half a microsecond more per
// AES-256-GCM packet with AES instructions), so the data path keeps AeadCipher.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace vpn::crypto {

enum class CipherSuite { kAes256Gcm, kChaCha20Poly1305 };

std::string_view toString(CipherSuite c);  // "aes-256-gcm", "chacha20-poly1305"
bool parseCipher(std::string_view text, CipherSuite& out);
bool cpuHasAesAcceleration();
// AES-256-GCM first where the CPU has AES instructions, ChaCha20-Poly1305 first elsewhere.
std::vector<CipherSuite> defaultCipherOrder();

// Packets one key may seal before its confidentiality bound is spent (RFC 9001 section 6.6):
// 2^23 for AES-GCM; ChaCha20-Poly1305's bound (2^62) is beyond any counter we use.
constexpr std::uint64_t confidentialityLimit(CipherSuite c) {
  return c == CipherSuite::kAes256Gcm ? (std::uint64_t{1} << 23) : (std::uint64_t{1} << 62);
}

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kIvSize = 12;
inline constexpr std::size_t kTagSize = 16;

class AeadCipher {
 public:
  AeadCipher(CipherSuite suite, std::span<const std::uint8_t, kKeySize> key,
             std::span<const std::uint8_t, kIvSize> iv);
  ~AeadCipher();
  AeadCipher(const AeadCipher&) = delete;
  AeadCipher& operator=(const AeadCipher&) = delete;

  // Encrypts `data` in place and writes the tag. `aad` is authenticated, not encrypted.
  bool seal(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
            std::span<std::uint8_t, kTagSize> tag);
  // Decrypts `data` in place if the tag verifies; on false, `data` content is unspecified.
  bool open(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
            std::span<const std::uint8_t, kTagSize> tag);

  // Makes sure lanes 0..n-1 exist (allocates the missing ones; false if OpenSSL cannot copy the
  // context, and then only the lanes that exist may be used). Lane 0 is the one seal/open use.
  bool prepareLanes(std::size_t n);
  std::size_t lanes() const;
  // seal/open on context `lane` (< lanes()).
  bool sealOn(std::size_t lane, std::uint64_t counter, std::span<const std::uint8_t> aad,
              std::span<std::uint8_t> data, std::span<std::uint8_t, kTagSize> tag);
  bool openOn(std::size_t lane, std::uint64_t counter, std::span<const std::uint8_t> aad,
              std::span<std::uint8_t> data, std::span<const std::uint8_t, kTagSize> tag);

  CipherSuite suite() const { return suite_; }

 private:
  struct Impl;
  CipherSuite suite_;
  std::array<std::uint8_t, kIvSize> iv_{};
  std::unique_ptr<Impl> impl_;
};

// One direction's key material: the AEAD key and the per-key IV (see AeadCipher). Plain bytes;
// wipe() before letting go of a copy.
struct AeadKey {
  std::array<std::uint8_t, kKeySize> key{};
  std::array<std::uint8_t, kIvSize> iv{};
  void wipe();
};

// Seals and opens like AeadCipher, with key material supplied per call, on one OpenSSL context
// per suite shared by all keys (made on the first call for that suite). Keeps no key after a call
// beyond the context's key schedule of the last one. Never throws; false if OpenSSL cannot
// provide the cipher or (open) the tag does not verify. Per call: no allocation except the
// context on a suite's first use. One thread at a time.
class AeadScratch {
 public:
  AeadScratch();
  ~AeadScratch();
  AeadScratch(const AeadScratch&) = delete;
  AeadScratch& operator=(const AeadScratch&) = delete;

  bool seal(CipherSuite suite, const AeadKey& key, std::uint64_t counter,
            std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
            std::span<std::uint8_t, kTagSize> tag);
  bool open(CipherSuite suite, const AeadKey& key, std::uint64_t counter,
            std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
            std::span<const std::uint8_t, kTagSize> tag);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpn::crypto
