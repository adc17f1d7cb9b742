// Renewing a running process's certificate (reload): CredentialReload notices replaced files,
// refuses another CA or name, and TlsContext::adopt serves the new certificate to new sessions
// while a session begun before keeps working.
#include "crypto/credential_reload.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "crypto/tls_session.hpp"
#include "tests/unit/crypto/test_support.hpp"

namespace vpn::crypto {
namespace {

using Role = TlsSession::Role;
using State = TlsSession::State;
namespace fs = std::filesystem;

class CredentialReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CaOptions ca;
    ca.name = "testnet";
    createCa(ca, dir_ / "ca");
    test::signPeer(dir_, "ca", "alice", KeyType::kEd25519, 30);
    test::signPeer(dir_, "ca", "bob");
  }
  test::TempDir dir_;
  test::TempDir other_;
};

// Signs `name` again with the same CA into a second directory, then renames it into place.
void renewInPlace(const test::TempDir& dir, const test::TempDir& scratch, const std::string& name,
                  int days) {
  fs::copy_file(dir / "ca.crt", scratch / "ca.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "ca.key", scratch / "ca.key", fs::copy_options::overwrite_existing);
  test::signPeer(scratch, "ca", name, KeyType::kEcdsaP256, days);
  fs::rename(scratch / (name + ".crt"), dir / (name + ".crt"));
  fs::rename(scratch / (name + ".key"), dir / (name + ".key"));
}

TEST_F(CredentialReloadTest, UnchangedFilesAreNotReadAgain) {
  auto opts = test::contextOptions(dir_, "ca", "alice");
  CredentialReload reload(opts);
  EXPECT_FALSE(reload.changed(opts));
  auto other_cipher = opts;
  other_cipher.ciphers = {CipherSuite::kChaCha20Poly1305};
  EXPECT_TRUE(reload.changed(other_cipher));
  auto other_path = opts;
  other_path.cert = dir_ / "bob.crt";
  EXPECT_TRUE(reload.changed(other_path));
}

TEST_F(CredentialReloadTest, RenewedCertificateServesNewSessionsAndOldOnesKeepRunning) {
  auto opts = test::contextOptions(dir_, "ca", "alice");
  auto alice = TlsContext::create(opts);
  auto bob = TlsContext::create(test::contextOptions(dir_, "ca", "bob"));
  const std::string old_fp = alice->identity().fingerprint;
  CredentialReload reload(opts);

  // A session made before the renewal.
  auto before_c = TlsSession::create(*alice, Role::kClient, "bob");
  auto before_s = TlsSession::create(*bob, Role::kServer, "alice");
  test::runHandshake(*before_c, *before_s);
  ASSERT_EQ(before_s->state(), State::kEstablished);
  EXPECT_EQ(before_s->peerIdentity().fingerprint, old_fp);

  // One started before the renewal and finished after it.
  auto during_c = TlsSession::create(*alice, Role::kClient, "bob");
  auto during_s = TlsSession::create(*bob, Role::kServer, "alice");

  renewInPlace(dir_, other_, "alice", 400);
  ASSERT_TRUE(reload.changed(opts));
  auto fresh = reload.load(opts, *alice);
  alice->adopt(std::move(fresh));
  reload.remember(opts);
  EXPECT_FALSE(reload.changed(opts));
  EXPECT_NE(alice->identity().fingerprint, old_fp);
  EXPECT_EQ(alice->identity().name, "alice");

  test::runHandshake(*during_c, *during_s);
  ASSERT_EQ(during_s->state(), State::kEstablished) << during_s->failureReason();
  EXPECT_EQ(during_s->peerIdentity().fingerprint, old_fp);

  auto after_c = TlsSession::create(*alice, Role::kClient, "bob");
  auto after_s = TlsSession::create(*bob, Role::kServer, "alice");
  test::runHandshake(*after_c, *after_s);
  ASSERT_EQ(after_s->state(), State::kEstablished) << after_s->failureReason();
  EXPECT_EQ(after_s->peerIdentity().fingerprint, alice->identity().fingerprint);

  // The session from before still exports keys (it holds its own reference to the old context).
  std::array<std::uint8_t, 16> out{};
  EXPECT_TRUE(before_c->exportKeyingMaterial("test", out));
}

TEST_F(CredentialReloadTest, RefusesAnotherNameAnotherCaAndAMismatchedKey) {
  auto opts = test::contextOptions(dir_, "ca", "alice");
  auto alice = TlsContext::create(opts);
  CredentialReload reload(opts);

  auto as_bob = test::contextOptions(dir_, "ca", "bob");
  try {
    (void)reload.load(as_bob, *alice);
    ADD_FAILURE() << "another name was accepted";
  } catch (const CryptoError& e) {
    EXPECT_NE(std::string(e.what()).find("a new name needs a restart"), std::string::npos)
        << e.what();
  }

  CaOptions ca;
  ca.name = "othernet";
  createCa(ca, other_ / "ca");
  test::signPeer(other_, "ca", "alice");
  try {
    (void)reload.load(test::contextOptions(other_, "ca", "alice"), *alice);
    ADD_FAILURE() << "another CA was accepted";
  } catch (const CryptoError& e) {
    EXPECT_NE(std::string(e.what()).find("a new CA needs a restart"), std::string::npos)
        << e.what();
  }

  auto mismatched = opts;
  mismatched.key = dir_ / "bob.key";
  EXPECT_THROW((void)reload.load(mismatched, *alice), CryptoError);
  EXPECT_EQ(alice->identity().name, "alice");  // nothing adopted
}

}  // namespace
}  // namespace vpn::crypto
