#include "crypto/internal/openssl_util.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

namespace vpn::crypto::internal {
namespace {

constexpr std::size_t kMaxPemFileSize = 1 << 20;

std::string readSmallFile(const std::filesystem::path& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw CryptoError("cannot read " + std::string(what) + " " + path.string() + ": " +
                      std::strerror(errno));
  }
  std::string data;
  char buf[4096];
  while (true) {
    std::size_t n = std::fread(buf, 1, sizeof buf, f);
    data.append(buf, n);
    if (n < sizeof buf || data.size() > kMaxPemFileSize) {
      break;
    }
  }
  bool failed = std::ferror(f) != 0;
  int saved_errno = errno;
  std::fclose(f);
  if (failed) {
    throw CryptoError("cannot read " + std::string(what) + " " + path.string() + ": " +
                      std::strerror(saved_errno));
  }
  if (data.size() > kMaxPemFileSize) {
    throw CryptoError(std::string(what) + " " + path.string() +
                      " is too large to be a PEM file; check the path");
  }
  return data;
}

BioPtr memBio(const std::string& data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) {
    throw CryptoError("out of memory while parsing PEM data");
  }
  return bio;
}

std::string commonName(const X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) {
    return {};
  }
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) {
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::chrono::system_clock::time_point asn1Time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    throw CryptoError("certificate has an unreadable validity period");
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::vector<protocol::IpAddress> sanAddresses(X509* cert) {
  std::vector<protocol::IpAddress> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_IPADD) {
      continue;
    }
    const unsigned char* b = ASN1_STRING_get0_data(gn->d.iPAddress);
    int len = ASN1_STRING_length(gn->d.iPAddress);
    if (len == 4) {
      out.push_back(protocol::IpAddress::v4(b));
    } else if (len == 16) {
      out.push_back(protocol::IpAddress::v6(b));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

struct VpnExtension {
  bool rendezvous = false;
  std::vector<protocol::IpPrefix> prefixes;
  std::vector<std::string> groups;
};

std::optional<std::string> vpnExtensionText(X509* cert) {
  ASN1_OBJECT* obj = OBJ_txt2obj(kVpnExtensionOid, 1);
  if (obj == nullptr) {
    throw CryptoError("OpenSSL cannot parse the vpnpeer extension OID");
  }
  int idx = X509_get_ext_by_OBJ(cert, obj, -1);
  ASN1_OBJECT_free(obj);
  if (idx < 0) {
    return std::nullopt;
  }
  const ASN1_OCTET_STRING* outer = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
  const unsigned char* p = ASN1_STRING_get0_data(outer);
  ASN1_OCTET_STRING* inner = d2i_ASN1_OCTET_STRING(nullptr, &p, ASN1_STRING_length(outer));
  if (inner == nullptr) {
    ERR_clear_error();
    return std::string{"<not an OCTET STRING>"};
  }
  std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(inner)),
                   static_cast<std::size_t>(ASN1_STRING_length(inner)));
  ASN1_OCTET_STRING_free(inner);
  return text;
}

// Unknown keys are ignored so later versions can add fields; known keys must parse.
std::optional<VpnExtension> parseVpnExtension(std::string_view text) {
  VpnExtension ext;
  bool have_version = false;
  while (!text.empty()) {
    std::size_t semi = text.find(';');
    std::string_view field = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view key = field.substr(0, eq);
    std::string_view value = field.substr(eq + 1);
    if (key == "v") {
      have_version = value == "1";
    } else if (key == "role") {
      if (value != "peer" && value != "rendezvous") {
        return std::nullopt;
      }
      ext.rendezvous = value == "rendezvous";
    } else if (key == "addr") {
      while (!value.empty()) {
        std::size_t comma = value.find(',');
        auto prefix = protocol::IpPrefix::parse(value.substr(0, comma));
        if (!prefix) {
          return std::nullopt;
        }
        ext.prefixes.push_back(*prefix);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
      }
    } else if (key == "groups") {
      while (!value.empty()) {
        std::size_t comma = value.find(',');
        std::string_view g = value.substr(0, comma);
        if (!isValidGroupName(g) || ext.groups.size() >= 64) {
          return std::nullopt;
        }
        ext.groups.emplace_back(g);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
      }
    }
  }
  if (!have_version) {
    return std::nullopt;
  }
  return ext;
}

}  // namespace

std::string takeOpensslError() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string part;
    if (reason != nullptr) {
      part = reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      part = buf;
    }
    if (out.find(part) == std::string::npos) {
      out += out.empty() ? part : "; " + part;
    }
  }
  return out;
}

X509Ptr loadCertificate(const std::filesystem::path& path, std::string_view what) {
  std::string pem = readSmallFile(path, what);
  BioPtr bio = memBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw CryptoError(std::string(what) + " " + path.string() +
                      " is not a valid PEM certificate (" + takeOpensslError() + ")");
  }
  return cert;
}

PkeyPtr loadPrivateKey(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    throw CryptoError(std::string(what) + " " + path.string() +
                      " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  std::string pem = readSmallFile(path, what);
  BioPtr bio = memBio(pem);  // reads `pem` in place; wipe only after parsing
  // A callback that supplies no passphrase, so an encrypted key fails instead of prompting.
  pem_password_cb* no_pass = [](char*, int, int, void*) -> int { return 0; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr));
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    throw CryptoError(std::string(what) + " " + path.string() +
                      " is not a valid unencrypted PEM private key (" + takeOpensslError() + ")");
  }
  return key;
}

std::string subjectName(X509* cert) { return commonName(X509_get_subject_name(cert)); }

std::optional<CertIdentity> identityFromDer(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    ERR_clear_error();
    return std::nullopt;
  }
  try {
    return identityFromX509(cert.get());
  } catch (const CryptoError&) {
    return std::nullopt;
  }
}

CertIdentity identityFromX509(X509* cert) {
  CertIdentity id;
  id.name = commonName(X509_get_subject_name(cert));
  id.issuer = commonName(X509_get_issuer_name(cert));
  id.not_before = asn1Time(X509_get0_notBefore(cert));
  id.not_after = asn1Time(X509_get0_notAfter(cert));

  std::optional<VpnExtension> ext;
  if (auto text = vpnExtensionText(cert)) {
    ext = parseVpnExtension(*text);
    if (!ext) {
      throw CryptoError("certificate for '" + id.name +
                        "' has a malformed vpnpeer extension; re-issue it with `vpnpeer cert sign`");
    }
    id.rendezvous_role = ext->rendezvous;
    id.groups = ext->groups;
  }
  for (const auto& addr : sanAddresses(cert)) {
    std::uint8_t len = addr.isV4() ? 32 : 128;
    if (ext) {
      for (const auto& p : ext->prefixes) {
        if (p.address() == addr) {
          len = p.length();
          break;
        }
      }
    }
    id.addresses.emplace_back(addr, len);
  }

  id.fingerprint = fingerprintOf(cert);
  return id;
}

std::string fingerprintOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
    throw CryptoError("cannot compute the certificate fingerprint (" + takeOpensslError() + ")");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < md_len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string formatUtc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buf, n);
}

}  // namespace vpn::crypto::internal
