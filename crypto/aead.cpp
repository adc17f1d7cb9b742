#include "crypto/aead.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>

#include "crypto/certificate.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace vpn::crypto {
namespace {

// Fetched once per process and never freed: explicit fetching avoids the implicit per-init
// provider lookup that EVP_aes_256_gcm() would cost.
EVP_CIPHER* fetchCipher(CipherSuite suite) {
  static EVP_CIPHER* const kAes = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* const kChaCha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return suite == CipherSuite::kAes256Gcm ? kAes : kChaCha;
}

}  // namespace

std::string_view toString(CipherSuite c) {
  switch (c) {
    case CipherSuite::kAes256Gcm: return "aes-256-gcm";
    case CipherSuite::kChaCha20Poly1305: return "chacha20-poly1305";
  }
  return "?";
}

bool parseCipher(std::string_view text, CipherSuite& out) {
  for (CipherSuite c : {CipherSuite::kAes256Gcm, CipherSuite::kChaCha20Poly1305}) {
    if (text == toString(c)) {
      out = c;
      return true;
    }
  }
  return false;
}

bool cpuHasAesAcceleration() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("aes") != 0;
#elif defined(__aarch64__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
  return false;
#endif
}

std::vector<CipherSuite> defaultCipherOrder() {
  if (cpuHasAesAcceleration()) {
    return {CipherSuite::kAes256Gcm, CipherSuite::kChaCha20Poly1305};
  }
  return {CipherSuite::kChaCha20Poly1305, CipherSuite::kAes256Gcm};
}

namespace {

// Keeps a forged packet from leaving entries on this thread's OpenSSL error queue.
bool aeadFail() {
  ERR_clear_error();
  return false;
}

// One AEAD operation on `ctx`, which already holds its cipher. key == nullptr keeps the context's
// key schedule (AeadCipher); otherwise the context is re-keyed first (AeadScratch). Inlined into
// each caller so AeadCipher's per-packet path costs no more than before AeadScratch existed.
[[gnu::always_inline]] inline bool runAead(EVP_CIPHER_CTX* ctx, const std::uint8_t* key,
             const std::array<std::uint8_t, kIvSize>& iv, std::uint64_t counter,
             std::span<const std::uint8_t> aad, std::span<std::uint8_t> data, std::uint8_t* tag,
             int enc) {
  if (data.size() > static_cast<std::size_t>(INT_MAX) ||
      aad.size() > static_cast<std::size_t>(INT_MAX)) {
    return false;
  }
  std::uint8_t nonce[kIvSize];
  std::memcpy(nonce, iv.data(), kIvSize);
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[kIvSize - 1 - i] ^= static_cast<std::uint8_t>(counter >> (8 * i));
  }
  int len = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nonce, enc) != 1) {
    return aeadFail();
  }
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return aeadFail();
  }
  if (!data.empty() && EVP_CipherUpdate(ctx, data.data(), &len, data.data(),
                                        static_cast<int>(data.size())) != 1) {
    return aeadFail();
  }
  if (enc == 0 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize),
                                      tag) != 1) {
    return aeadFail();
  }
  std::uint8_t final_out[EVP_MAX_BLOCK_LENGTH];  // stream AEADs write nothing here
  if (EVP_CipherFinal_ex(ctx, final_out, &len) != 1) {
    return aeadFail();
  }
  if (enc == 1 && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize),
                                      tag) != 1) {
    return aeadFail();
  }
  return true;
}

}  // namespace

// One context serves both directions: every packet re-initialises it with its own nonce and
// direction (EVP_CipherInit_ex with a null cipher and key keeps the key schedule).
// Lanes past the first are copies of it (EVP_CIPHER_CTX_copy keeps the key schedule).
struct AeadCipher::Impl {
  EVP_CIPHER_CTX* ctx = nullptr;
  std::vector<EVP_CIPHER_CTX*> more;  // lanes 1..

  ~Impl() {
    EVP_CIPHER_CTX_free(ctx);
    for (EVP_CIPHER_CTX* c : more) {
      EVP_CIPHER_CTX_free(c);
    }
  }

  EVP_CIPHER_CTX* lane(std::size_t i) const { return i == 0 ? ctx : more[i - 1]; }

  bool run(EVP_CIPHER_CTX* c, const std::array<std::uint8_t, kIvSize>& iv, std::uint64_t counter,
           std::span<const std::uint8_t> aad, std::span<std::uint8_t> data, std::uint8_t* tag,
           int enc) {
    return runAead(c, nullptr, iv, counter, aad, data, tag, enc);
  }
};

AeadCipher::AeadCipher(CipherSuite suite, std::span<const std::uint8_t, kKeySize> key,
                       std::span<const std::uint8_t, kIvSize> iv)
    : suite_(suite), impl_(std::make_unique<Impl>()) {
  std::memcpy(iv_.data(), iv.data(), kIvSize);
  EVP_CIPHER* cipher = fetchCipher(suite);
  impl_->ctx = EVP_CIPHER_CTX_new();
  if (cipher == nullptr || impl_->ctx == nullptr ||
      EVP_CipherInit_ex(impl_->ctx, cipher, nullptr, key.data(), nullptr, 1) != 1 ||
      EVP_CIPHER_CTX_get_iv_length(impl_->ctx) != static_cast<int>(kIvSize)) {
    ERR_clear_error();
    throw CryptoError("OpenSSL cannot provide the " + std::string(toString(suite)) + " cipher");
  }
}

AeadCipher::~AeadCipher() { OPENSSL_cleanse(iv_.data(), iv_.size()); }

bool AeadCipher::seal(std::uint64_t counter, std::span<const std::uint8_t> aad,
                      std::span<std::uint8_t> data, std::span<std::uint8_t, kTagSize> tag) {
  return impl_->run(impl_->ctx, iv_, counter, aad, data, tag.data(), 1);
}

bool AeadCipher::open(std::uint64_t counter, std::span<const std::uint8_t> aad,
                      std::span<std::uint8_t> data, std::span<const std::uint8_t, kTagSize> tag) {
  // SET_TAG only reads the buffer; the EVP API just lacks a const overload.
  return impl_->run(impl_->ctx, iv_, counter, aad, data, const_cast<std::uint8_t*>(tag.data()),
                    0);
}

bool AeadCipher::prepareLanes(std::size_t n) {
  while (lanes() < n) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    if (c == nullptr || EVP_CIPHER_CTX_copy(c, impl_->ctx) != 1) {
      EVP_CIPHER_CTX_free(c);
      ERR_clear_error();
      return false;
    }
    impl_->more.push_back(c);
  }
  return true;
}

std::size_t AeadCipher::lanes() const { return impl_->more.size() + 1; }

bool AeadCipher::sealOn(std::size_t lane, std::uint64_t counter,
                        std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                        std::span<std::uint8_t, kTagSize> tag) {
  return impl_->run(impl_->lane(lane), iv_, counter, aad, data, tag.data(), 1);
}

bool AeadCipher::openOn(std::size_t lane, std::uint64_t counter,
                        std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                        std::span<const std::uint8_t, kTagSize> tag) {
  return impl_->run(impl_->lane(lane), iv_, counter, aad, data,
                    const_cast<std::uint8_t*>(tag.data()), 0);
}

void AeadKey::wipe() {
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(iv.data(), iv.size());
}

// One context per suite, holding its cipher; each call installs its own key and nonce.
struct AeadScratch::Impl {
  std::array<EVP_CIPHER_CTX*, 2> ctx{};

  ~Impl() {
    for (EVP_CIPHER_CTX* c : ctx) {
      EVP_CIPHER_CTX_free(c);
    }
  }

  EVP_CIPHER_CTX* get(CipherSuite suite) {
    EVP_CIPHER_CTX*& c = ctx[suite == CipherSuite::kAes256Gcm ? 0 : 1];
    if (c != nullptr) {
      return c;
    }
    EVP_CIPHER* cipher = fetchCipher(suite);
    EVP_CIPHER_CTX* made = EVP_CIPHER_CTX_new();
    if (cipher == nullptr || made == nullptr ||
        EVP_CipherInit_ex(made, cipher, nullptr, nullptr, nullptr, 1) != 1 ||
        EVP_CIPHER_CTX_get_iv_length(made) != static_cast<int>(kIvSize)) {
      EVP_CIPHER_CTX_free(made);
      ERR_clear_error();
      return nullptr;
    }
    c = made;
    return c;
  }
};

AeadScratch::AeadScratch() : impl_(std::make_unique<Impl>()) {}

AeadScratch::~AeadScratch() = default;

bool AeadScratch::seal(CipherSuite suite, const AeadKey& key, std::uint64_t counter,
                       std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                       std::span<std::uint8_t, kTagSize> tag) {
  EVP_CIPHER_CTX* ctx = impl_->get(suite);
  return ctx != nullptr && runAead(ctx, key.key.data(), key.iv, counter, aad, data, tag.data(), 1);
}

bool AeadScratch::open(CipherSuite suite, const AeadKey& key, std::uint64_t counter,
                       std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                       std::span<const std::uint8_t, kTagSize> tag) {
  EVP_CIPHER_CTX* ctx = impl_->get(suite);
  return ctx != nullptr && runAead(ctx, key.key.data(), key.iv, counter, aad, data,
                                   const_cast<std::uint8_t*>(tag.data()), 0);
}

}  // namespace vpn::crypto
