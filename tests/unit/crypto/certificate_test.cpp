#include "crypto/certificate.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "crypto/internal/openssl_util.hpp"
#include "tests/unit/crypto/test_support.hpp"

namespace vpn::crypto {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using test::TempDir;

protocol::IpPrefix prefix(const char* text) { return *protocol::IpPrefix::parse(text); }

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const CryptoError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected CryptoError";
  return {};
}

class CertificateTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override {
    CaOptions ca;
    ca.name = "testnet";
    ca.key_type = GetParam();
    createCa(ca, dir_ / "ca");
  }
  TempDir dir_;
};

TEST_P(CertificateTest, PeerRoundTrip) {
  SignOptions opts;
  opts.name = "alice";
  opts.addresses = {prefix("10.42.0.1/24"), prefix("fd00::1/64")};
  opts.key_type = GetParam();
  opts.validity_days = 30;
  auto before = Clock::now();
  signCertificate(dir_ / "ca", opts, dir_ / "alice");
  auto after = Clock::now();

  CertIdentity id = readIdentity(dir_ / "alice.crt");
  EXPECT_EQ(id.name, "alice");
  EXPECT_EQ(id.issuer, "testnet");
  ASSERT_EQ(id.addresses.size(), 2u);
  EXPECT_EQ(id.addresses[0], prefix("10.42.0.1/24"));
  EXPECT_EQ(id.addresses[1], prefix("fd00::1/64"));
  EXPECT_FALSE(id.rendezvous_role);
  // Certificate times have one-second resolution.
  EXPECT_GE(id.not_before, before - 5min - 1s);
  EXPECT_LE(id.not_before, after - 5min);
  EXPECT_GE(id.not_after, before + std::chrono::days(30) - 1s);
  EXPECT_LE(id.not_after, after + std::chrono::days(30));
  ASSERT_EQ(id.fingerprint.size(), 64u);
  EXPECT_EQ(id.fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);

  CertIdentity ca = readIdentity(dir_ / "ca.crt");
  EXPECT_EQ(ca.name, "testnet");
  EXPECT_EQ(ca.issuer, "testnet");
  EXPECT_TRUE(ca.addresses.empty());
  // The CA was made in SetUp, a moment before `before`, and its time truncated to the second.
  EXPECT_GE(ca.not_after, before + std::chrono::days(3650) - 2s);
  EXPECT_NE(ca.fingerprint, id.fingerprint);
}

TEST_P(CertificateTest, RendezvousRoleAndNoAddresses) {
  SignOptions opts;
  opts.name = "rendezvous.example";
  opts.rendezvous_role = true;
  opts.key_type = GetParam();
  signCertificate(dir_ / "ca", opts, dir_ / "rv");
  CertIdentity id = readIdentity(dir_ / "rv.crt");
  EXPECT_EQ(id.name, "rendezvous.example");
  EXPECT_TRUE(id.rendezvous_role);
  EXPECT_TRUE(id.addresses.empty());
}

TEST_P(CertificateTest, GroupsRoundTripAndBadNamesAreRefused) {
  SignOptions opts;
  opts.name = "db1";
  opts.addresses = {prefix("10.42.0.7/24")};
  opts.groups = {"db", "ops.eu-1"};
  opts.key_type = GetParam();
  signCertificate(dir_ / "ca", opts, dir_ / "db1");
  CertIdentity id = readIdentity(dir_ / "db1.crt");
  EXPECT_EQ(id.groups, (std::vector<std::string>{"db", "ops.eu-1"}));
  EXPECT_EQ(id.addresses.size(), 1u);
  // No groups: none read back.
  EXPECT_TRUE(readIdentity(dir_ / "ca.crt").groups.empty());
  opts.name = "db2";
  opts.groups = {"Bad Group"};
  EXPECT_NE(errorOf([&] { signCertificate(dir_ / "ca", opts, dir_ / "db2"); })
                .find("'Bad Group' is not a valid group name"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db2.crt"));
  EXPECT_TRUE(isValidGroupName("a"));
  EXPECT_FALSE(isValidGroupName(""));
  EXPECT_FALSE(isValidGroupName("-ops"));
  EXPECT_FALSE(isValidGroupName(std::string(65, 'a')));
}

TEST_P(CertificateTest, KeyFilesAreOwnerOnly) {
  test::signPeer(dir_, "ca", "bob", GetParam());
  for (const char* f : {"ca.key", "bob.key"}) {
    struct stat st{};
    ASSERT_EQ(::stat((dir_ / f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_NE(slurp(dir_ / "bob.key").find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
}

TEST_P(CertificateTest, RefusesToOverwrite) {
  std::string ca_before = slurp(dir_ / "ca.crt");
  CaOptions ca;
  ca.name = "other";
  std::string msg = errorOf([&] { createCa(ca, dir_ / "ca"); });
  EXPECT_NE(msg.find("ca.crt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  EXPECT_EQ(slurp(dir_ / "ca.crt"), ca_before);

  // Only the key is in the way: nothing may be written at all.
  { std::ofstream(dir_ / "carol.key") << "keep me"; }
  msg = errorOf([&] { test::signPeer(dir_, "ca", "carol", GetParam()); });
  EXPECT_NE(msg.find("carol.key"), std::string::npos) << msg;
  EXPECT_EQ(slurp(dir_ / "carol.key"), "keep me");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "carol.crt"));
}

TEST_P(CertificateTest, RefusesValidityBeyondCa) {
  CaOptions ca;
  ca.name = "shortnet";
  ca.key_type = GetParam();
  ca.validity_days = 10;
  createCa(ca, dir_ / "short");
  SignOptions opts;
  opts.name = "dave";
  opts.validity_days = 11;
  std::string msg = errorOf([&] { signCertificate(dir_ / "short", opts, dir_ / "dave"); });
  EXPECT_NE(msg.find("runs past the CA's expiry"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at most 9 days"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "dave.key"));
  opts.validity_days = 9;
  signCertificate(dir_ / "short", opts, dir_ / "dave");
  EXPECT_EQ(readIdentity(dir_ / "dave.crt").issuer, "shortnet");
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CertificateTest,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256),
                         [](const auto& param_info) {
                           return param_info.param == KeyType::kEd25519 ? "Ed25519" : "P256";
                         });

TEST(CertificateErrorsTest, MixedKeyTypesWork) {
  TempDir dir;
  CaOptions ca;
  ca.name = "mixnet";
  ca.key_type = KeyType::kEcdsaP256;
  createCa(ca, dir / "ca");
  test::signPeer(dir, "ca", "ed", KeyType::kEd25519);
  EXPECT_EQ(readIdentity(dir / "ed.crt").issuer, "mixnet");
}

TEST(CertificateErrorsTest, MissingFilesNameThePath) {
  TempDir dir;
  std::string msg = errorOf([&] { readIdentity(dir / "nope.crt"); });
  EXPECT_NE(msg.find((dir / "nope.crt").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;

  SignOptions opts;
  opts.name = "x";
  msg = errorOf([&] { signCertificate(dir / "missing-ca", opts, dir / "x"); });
  EXPECT_NE(msg.find("missing-ca.crt"), std::string::npos) << msg;
}

TEST(CertificateErrorsTest, MalformedCertificate) {
  TempDir dir;
  { std::ofstream(dir / "junk.crt") << "not a certificate\n"; }
  std::string msg = errorOf([&] { readIdentity(dir / "junk.crt"); });
  EXPECT_NE(msg.find("junk.crt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a valid PEM certificate"), std::string::npos) << msg;
}

TEST(CertificateErrorsTest, RejectsBadOptions) {
  TempDir dir;
  CaOptions ca;
  ca.name = "";
  EXPECT_THROW(createCa(ca, dir / "ca"), CryptoError);
  ca.name = "net";
  ca.validity_days = 0;
  EXPECT_THROW(createCa(ca, dir / "ca"), CryptoError);
  EXPECT_FALSE(std::filesystem::exists(dir / "ca.key"));
}

// A certificate from some other tool: IP SANs but no vpnpeer extension. Built with raw OpenSSL.
TEST(CertificateErrorsTest, WithoutExtensionAddressesGetHostPrefixes) {
  TempDir dir;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(key, nullptr);
  X509* x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("plain"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509V3_CTX v3{};
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:10.1.2.3,IP:fd00::5");
  ASSERT_NE(san, nullptr);
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  ASSERT_GT(X509_sign(x, key, nullptr), 0);
  FILE* f = std::fopen((dir / "plain.crt").c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, x);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);

  CertIdentity id = readIdentity(dir / "plain.crt");
  EXPECT_EQ(id.name, "plain");
  ASSERT_EQ(id.addresses.size(), 2u);
  EXPECT_EQ(id.addresses[0], prefix("10.1.2.3/32"));
  EXPECT_EQ(id.addresses[1], prefix("fd00::5/128"));
  EXPECT_FALSE(id.rendezvous_role);
}

TEST(CertificateErrorsTest, FingerprintIsSha256OfDer) {
  TempDir dir;
  CaOptions ca;
  ca.name = "fpnet";
  createCa(ca, dir / "ca");
  std::string pem = slurp(dir / "ca.crt");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x, nullptr);
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  ASSERT_GT(len, 0);
  unsigned char md[32];
  unsigned int md_len = 0;
  ASSERT_EQ(EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr), 1);
  OPENSSL_free(der);
  X509_free(x);
  EXPECT_EQ(readIdentity(dir / "ca.crt").fingerprint,
            test::toHex(std::span<const std::uint8_t>(md, md_len)));
}

}  // namespace
}  // namespace vpn::crypto
