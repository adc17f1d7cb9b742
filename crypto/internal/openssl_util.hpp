#pragma once
// Private to crypto/: OpenSSL ownership helpers and the certificate plumbing shared by
// certificate.cpp, tls_context.cpp and tls_session.cpp. Never include this outside crypto/ (the
// unit tests may, to reach the test hooks documented below).
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/certificate.hpp"

namespace vpn::crypto::internal {

// Our private, non-critical X.509 extension carrying the prefix lengths and the role. The arc is
// 2.25.<UUID as decimal> (ITU-T X.667), so no OID registration is needed; the UUID
// 6a41ecf0-4d87-4c9c-ab6b-b1d6aa912402 was generated once at random for vpnpeer. Its value is a DER
// OCTET STRING holding ASCII such as "v=1;role=peer;addr=10.42.0.1/24,fd00::1/64".
inline constexpr const char* kVpnExtensionOid = "2.25.141240472536425224073107585413623653378";

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;

// Drains OpenSSL's thread-local error queue into one human-readable reason ("" if empty).
std::string takeOpensslError();

// Reads and parses one PEM file; `what` names it in errors ("CA certificate", "private key").
X509Ptr loadCertificate(const std::filesystem::path& path, std::string_view what);
// Refuses a key file readable by group or others (with the chmod that fixes it).
PkeyPtr loadPrivateKey(const std::filesystem::path& path, std::string_view what);

// The subject's CN as UTF-8 ("" if there is none).
std::string subjectName(X509* cert);

// Everything readIdentity() returns, from a parsed certificate. Throws CryptoError.
CertIdentity identityFromX509(X509* cert);
// SHA-256 of the DER, lowercase hex (what `vpnpeer cert show` prints). Throws CryptoError.
std::string fingerprintOf(X509* cert);
// The same from DER bytes (the fuzz target's entry): nullopt if they are not a certificate or
// identityFromX509 refuses it.
std::optional<CertIdentity> identityFromDer(std::span<const std::uint8_t> der);

// "2026-12-04 10:00:00 UTC"
std::string formatUtc(std::chrono::system_clock::time_point t);

// Test hook and the general form of signCertificate(): signs with explicit validity bounds
// (still refusing to run past the CA's expiry). Lets tests make not-yet-valid or short-lived
// certificates without forging them by hand.
void signCertificateWithValidity(const std::filesystem::path& ca, const SignOptions& opts,
                                 const std::filesystem::path& out,
                                 std::chrono::system_clock::time_point not_before,
                                 std::chrono::system_clock::time_point not_after);

}  // namespace vpn::crypto::internal
