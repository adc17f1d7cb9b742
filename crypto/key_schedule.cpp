#include "crypto/key_schedule.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "crypto/tls_session.hpp"

namespace vpn::crypto {
namespace {

constexpr std::string_view kKeyLabel = "vpnpeer key";
constexpr std::string_view kIvLabel = "vpnpeer iv";
constexpr std::string_view kUpdateLabel = "vpnpeer ku";

// HKDF-Expand(SHA-256) only fails if OpenSSL lacks HKDF or memory, neither of which a caller
// can recover from; abort rather than hand out a zero key.
void hkdfExpand(const TrafficSecret& secret, std::string_view label, std::span<std::uint8_t> out) {
  static EVP_KDF* const kHkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kHkdf != nullptr ? EVP_KDF_CTX_new(kHkdf) : nullptr;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(secret.bytes.data()),
                                        secret.bytes.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(label.data()),
                                        label.size()),
      OSSL_PARAM_construct_end(),
  };
  bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) {
    std::fprintf(stderr, "fatal: HKDF-Expand failed in OpenSSL; aborting\n");
    std::abort();
  }
}

}  // namespace

void TrafficSecret::wipe() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

std::optional<SessionSecrets> exportSessionSecrets(TlsSession& session) {
  std::array<std::uint8_t, 64> material{};
  if (!session.exportKeyingMaterial(kDataExporterLabel, material)) {
    return std::nullopt;
  }
  SessionSecrets s;
  std::memcpy(s.client_to_server.bytes.data(), material.data(), 32);
  std::memcpy(s.server_to_client.bytes.data(), material.data() + 32, 32);
  OPENSSL_cleanse(material.data(), material.size());
  return s;
}

TrafficSecret nextSecret(const TrafficSecret& s) {
  TrafficSecret next;
  hkdfExpand(s, kUpdateLabel, next.bytes);
  return next;
}

AeadKey deriveKey(const TrafficSecret& s) {
  AeadKey k;
  hkdfExpand(s, kKeyLabel, k.key);
  hkdfExpand(s, kIvLabel, k.iv);
  return k;
}

std::unique_ptr<AeadCipher> makeCipher(CipherSuite suite, const TrafficSecret& s) {
  AeadKey k = deriveKey(s);
  auto cipher = std::make_unique<AeadCipher>(suite, k.key, k.iv);
  k.wipe();
  return cipher;
}

}  // namespace vpn::crypto
