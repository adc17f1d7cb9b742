// Certificate issuance. Layout of what we issue:
//   CA:   subject CN = network name, self-signed; basicConstraints critical CA:TRUE,
//         keyUsage critical keyCertSign+cRLSign.
//   Leaf: subject CN = peer name, issuer = CA subject; basicConstraints critical CA:FALSE,
//         keyUsage critical digitalSignature, extendedKeyUsage serverAuth+clientAuth (every peer
//         is both TLS client and server), overlay addresses as iPAddress SANs (address bytes
//         only), and the private extension internal::kVpnExtensionOid holding prefix lengths and
//         the role ("role=rendezvous" marks the rendezvous server's certificate).
// Validity starts 5 minutes in the past to tolerate clock skew between peers.
#include "crypto/certificate.hpp"

#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "crypto/internal/new_file.hpp"
#include "crypto/internal/openssl_util.hpp"
#include "crypto/random.hpp"

namespace vpn::crypto {
namespace {

using internal::refuseExisting;
using internal::writeNewFile;

using internal::PkeyPtr;
using internal::takeOpensslError;
using internal::X509Ptr;
using Clock = std::chrono::system_clock;

constexpr auto kClockSkew = std::chrono::minutes(5);

[[noreturn]] void fail(const std::string& what) {
  std::string reason = takeOpensslError();
  throw CryptoError(what + (reason.empty() ? "" : " (" + reason + ")"));
}

std::filesystem::path withSuffix(const std::filesystem::path& base, const char* suffix) {
  std::filesystem::path p = base;
  p += suffix;
  return p;
}

PkeyPtr generateKey(KeyType type) {
  EVP_PKEY* key = type == KeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) {
    fail("cannot generate a private key");
  }
  return PkeyPtr(key);
}

void setName(X509* cert, const std::string& cn) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1) {
    fail("cannot use '" + cn + "' as a certificate name");
  }
}

void setSerial(X509* cert) {
  std::array<std::uint8_t, 16> bytes{};
  randomBytes(bytes);
  bytes[0] &= 0x7f;  // keep the DER INTEGER positive and 16 bytes long
  bytes[0] |= 0x40;
  BIGNUM* bn = BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr);
  bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  if (!ok) {
    fail("cannot set the certificate serial number");
  }
}

void setValidity(X509* cert, Clock::time_point not_before, Clock::time_point not_after) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), Clock::to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), Clock::to_time_t(not_after)) == nullptr) {
    fail("cannot set the certificate validity period");
  }
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX v3{};
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
  bool ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  if (!ok) {
    fail(std::string("cannot add certificate extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
}

void addAddresses(X509* cert, const std::vector<protocol::IpPrefix>& addresses) {
  if (addresses.empty()) {
    return;
  }
  GENERAL_NAMES* names = GENERAL_NAMES_new();
  bool ok = names != nullptr;
  for (std::size_t i = 0; ok && i < addresses.size(); ++i) {
    const protocol::IpAddress& a = addresses[i].address();
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING* ip = ASN1_OCTET_STRING_new();
    ok = gn != nullptr && ip != nullptr &&
         ASN1_OCTET_STRING_set(ip, a.bytes(), static_cast<int>(a.size())) == 1;
    if (ok) {
      GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
      ip = nullptr;
      ok = sk_GENERAL_NAME_push(names, gn) > 0;
      if (ok) {
        gn = nullptr;
      }
    }
    ASN1_OCTET_STRING_free(ip);
    GENERAL_NAME_free(gn);
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  if (!ok) {
    fail("cannot add the overlay addresses to the certificate");
  }
}

void addVpnExtension(X509* cert, const SignOptions& opts) {
  std::string text = "v=1;role=";
  text += opts.rendezvous_role ? "rendezvous" : "peer";
  text += ";addr=";
  for (std::size_t i = 0; i < opts.addresses.size(); ++i) {
    text += (i == 0 ? "" : ",") + opts.addresses[i].toString();
  }
  if (!opts.groups.empty()) {
    text += ";groups=";
    for (std::size_t i = 0; i < opts.groups.size(); ++i) {
      text += (i == 0 ? "" : ",") + opts.groups[i];
    }
  }
  ASN1_OBJECT* obj = OBJ_txt2obj(internal::kVpnExtensionOid, 1);
  ASN1_OCTET_STRING* inner = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING* outer = ASN1_OCTET_STRING_new();
  unsigned char* der = nullptr;
  int der_len = -1;
  if (obj != nullptr && inner != nullptr && outer != nullptr &&
      ASN1_OCTET_STRING_set(inner, reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size())) == 1) {
    der_len = i2d_ASN1_OCTET_STRING(inner, &der);
  }
  bool ok = der_len > 0 && ASN1_OCTET_STRING_set(outer, der, der_len) == 1;
  X509_EXTENSION* ext = ok ? X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, outer) : nullptr;
  ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  OPENSSL_free(der);
  ASN1_OCTET_STRING_free(outer);
  ASN1_OCTET_STRING_free(inner);
  ASN1_OBJECT_free(obj);
  if (!ok) {
    fail("cannot add the vpnpeer extension to the certificate");
  }
}

void sign(X509* cert, EVP_PKEY* key) {
  // Ed25519 signs the message itself, so it takes no digest.
  const EVP_MD* md = EVP_PKEY_is_a(key, "ED25519") ? nullptr : EVP_sha256();
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      X509_sign_ctx(cert, ctx.get()) <= 0) {
    fail("cannot sign the certificate");
  }
}

std::string toPem(X509* cert, EVP_PKEY* key) {
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  bool ok = bio != nullptr;
  if (ok && cert != nullptr) {
    ok = PEM_write_bio_X509(bio.get(), cert) == 1;
  }
  if (ok && key != nullptr) {
    ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  if (!ok) {
    fail("cannot encode PEM");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(len));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return out;
}

void writePair(const std::filesystem::path& out, X509* cert, EVP_PKEY* key) {
  auto crt = withSuffix(out, ".crt");
  auto key_path = withSuffix(out, ".key");
  refuseExisting(crt);
  refuseExisting(key_path);
  std::string key_pem = toPem(nullptr, key);
  try {
    writeNewFile(key_path, key_pem, 0600);
  } catch (...) {
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    throw;
  }
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  try {
    writeNewFile(crt, toPem(cert, nullptr), 0644);
  } catch (...) {
    ::unlink(key_path.c_str());
    throw;
  }
}

void checkName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    throw CryptoError("certificate name '" + name + "' must be 1 to 64 characters long");
  }
}

void checkDays(int days) {
  if (days <= 0) {
    throw CryptoError("validity must be at least 1 day, got " + std::to_string(days));
  }
}

}  // namespace

void createCa(const CaOptions& opts, const std::filesystem::path& out) {
  checkName(opts.name);
  checkDays(opts.validity_days);
  refuseExisting(withSuffix(out, ".crt"));
  refuseExisting(withSuffix(out, ".key"));

  PkeyPtr key = generateKey(opts.key_type);
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    fail("cannot create a certificate");
  }
  setSerial(cert.get());
  setName(cert.get(), opts.name);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  auto now = Clock::now();
  setValidity(cert.get(), now - kClockSkew, now + std::chrono::days(opts.validity_days));
  if (X509_set_pubkey(cert.get(), key.get()) != 1) {
    fail("cannot set the certificate key");
  }
  addExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  sign(cert.get(), key.get());
  writePair(out, cert.get(), key.get());
}

bool isValidGroupName(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 64 || !alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

void signCertificate(const std::filesystem::path& ca, const SignOptions& opts,
                     const std::filesystem::path& out) {
  checkDays(opts.validity_days);
  auto now = Clock::now();
  internal::signCertificateWithValidity(ca, opts, out, now - kClockSkew,
                                        now + std::chrono::days(opts.validity_days));
}

CertIdentity readIdentity(const std::filesystem::path& cert_pem) {
  X509Ptr cert = internal::loadCertificate(cert_pem, "certificate");
  try {
    return internal::identityFromX509(cert.get());
  } catch (const CryptoError& e) {
    throw CryptoError(cert_pem.string() + ": " + e.what());
  }
}

namespace internal {

void signCertificateWithValidity(const std::filesystem::path& ca, const SignOptions& opts,
                                 const std::filesystem::path& out,
                                 std::chrono::system_clock::time_point not_before,
                                 std::chrono::system_clock::time_point not_after) {
  checkName(opts.name);
  for (const auto& g : opts.groups) {
    if (!isValidGroupName(g)) {
      throw CryptoError("group '" + g + "' is not a valid group name: use 1 to 64 of a-z 0-9 . _ -, "
                        "starting with a letter or a digit");
    }
  }
  auto ca_crt = withSuffix(ca, ".crt");
  auto ca_key_path = withSuffix(ca, ".key");
  refuseExisting(withSuffix(out, ".crt"));
  refuseExisting(withSuffix(out, ".key"));

  X509Ptr ca_cert = loadCertificate(ca_crt, "CA certificate");
  PkeyPtr ca_key = loadPrivateKey(ca_key_path, "CA key");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    takeOpensslError();
    throw CryptoError("CA key " + ca_key_path.string() + " does not match CA certificate " +
                      ca_crt.string());
  }
  if (X509_check_ca(ca_cert.get()) == 0) {
    throw CryptoError(ca_crt.string() + " is not a CA certificate; pass the network CA");
  }
  CertIdentity ca_id = identityFromX509(ca_cert.get());
  if (not_after > ca_id.not_after) {
    auto left = std::chrono::floor<std::chrono::days>(ca_id.not_after - Clock::now());
    if (left.count() < 1) {
      throw CryptoError("CA certificate " + ca_crt.string() + " expires on " +
                        formatUtc(ca_id.not_after) + "; create a new CA before signing");
    }
    throw CryptoError("the requested validity runs past the CA's expiry on " +
                      formatUtc(ca_id.not_after) + "; choose at most " +
                      std::to_string(left.count()) + " days");
  }

  PkeyPtr key = generateKey(opts.key_type);
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    fail("cannot create a certificate");
  }
  setSerial(cert.get());
  setName(cert.get(), opts.name);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    fail("cannot set the certificate issuer");
  }
  setValidity(cert.get(), not_before, not_after);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) {
    fail("cannot set the certificate key");
  }
  addExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  addExtension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  addExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  addAddresses(cert.get(), opts.addresses);
  addVpnExtension(cert.get(), opts);
  sign(cert.get(), ca_key.get());
  writePair(out, cert.get(), key.get());
}

}  // namespace internal
}  // namespace vpn::crypto
