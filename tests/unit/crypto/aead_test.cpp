#include "crypto/aead.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/crypto/test_support.hpp"

namespace vpn::crypto {
namespace {

using test::fromHex;
using test::toHex;

std::array<std::uint8_t, kKeySize> key32(std::string_view hex) {
  auto v = fromHex(hex);
  std::array<std::uint8_t, kKeySize> k{};
  EXPECT_EQ(v.size(), k.size());
  std::memcpy(k.data(), v.data(), std::min(v.size(), k.size()));
  return k;
}

std::array<std::uint8_t, kIvSize> iv12(std::string_view hex) {
  auto v = fromHex(hex);
  std::array<std::uint8_t, kIvSize> iv{};
  EXPECT_EQ(v.size(), iv.size());
  std::memcpy(iv.data(), v.data(), std::min(v.size(), iv.size()));
  return iv;
}

struct Vector {
  CipherSuite suite;
  const char* key;
  const char* iv;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

// RFC 8439 section 2.8.2. With counter 0 our nonce is the IV itself, so the vector applies as is.
const Vector kChaChaRfc8439 = {
    CipherSuite::kChaCha20Poly1305,
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    "070000004041424344454647",
    "50515253c0c1c2c3c4c5c6c7",
    // "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the
    // future, sunscreen would be it."
    "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
    "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
    "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
    "637265656e20776f756c642062652069742e",
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116",
    "1ae10b594f09e26a7e902ecbd0600691",
};

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV).
const Vector kAesGcmCase16 = {
    CipherSuite::kAes256Gcm,
    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    "cafebabefacedbaddecaf888",
    "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "76fc6ece0f4e1768cddf8853bb2d551b",
};

void checkVector(const Vector& v) {
  AeadCipher c(v.suite, key32(v.key), iv12(v.iv));
  auto aad = fromHex(v.aad);
  auto data = fromHex(v.plaintext);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(c.seal(0, aad, data, tag));
  EXPECT_EQ(toHex(data), toHex(fromHex(v.ciphertext)));
  EXPECT_EQ(toHex(tag), v.tag);

  AeadCipher d(v.suite, key32(v.key), iv12(v.iv));
  ASSERT_TRUE(d.open(0, aad, data, tag));
  EXPECT_EQ(toHex(data), toHex(fromHex(v.plaintext)));
}

TEST(AeadTest, ChaCha20Poly1305KnownAnswerRfc8439) { checkVector(kChaChaRfc8439); }

TEST(AeadTest, AesGcmKnownAnswerMcGrewViegaCase16) { checkVector(kAesGcmCase16); }

// The counter is XORed big-endian into the last 8 IV bytes: pre-XORing the IV by hand with the
// same counter must reproduce the vector.
TEST(AeadTest, CounterIsXoredBigEndianIntoTheIvTail) {
  const std::uint64_t counter = 0x0102030405060708;
  auto iv = iv12(kAesGcmCase16.iv);
  for (std::size_t i = 0; i < 8; ++i) {
    iv[kIvSize - 1 - i] ^= static_cast<std::uint8_t>(counter >> (8 * i));
  }
  AeadCipher c(CipherSuite::kAes256Gcm, key32(kAesGcmCase16.key), iv);
  auto aad = fromHex(kAesGcmCase16.aad);
  auto data = fromHex(kAesGcmCase16.plaintext);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(c.seal(counter, aad, data, tag));
  EXPECT_EQ(toHex(data), toHex(fromHex(kAesGcmCase16.ciphertext)));
  EXPECT_EQ(toHex(tag), kAesGcmCase16.tag);
}

class AeadSuiteTest : public ::testing::TestWithParam<CipherSuite> {
 protected:
  std::array<std::uint8_t, kKeySize> key_ = key32(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  std::array<std::uint8_t, kIvSize> iv_ = iv12("a0a1a2a3a4a5a6a7a8a9aaab");
  std::array<std::uint8_t, 8> header_ = {1, 2, 3, 4, 5, 6, 7, 8};
};

TEST_P(AeadSuiteTest, RoundTripsAllSizes) {
  AeadCipher sealer(GetParam(), key_, iv_);
  AeadCipher opener(GetParam(), key_, iv_);
  for (std::size_t size : {0u, 1u, 15u, 16u, 17u, 64u, 1420u, 9000u}) {
    std::vector<std::uint8_t> plain(size);
    for (std::size_t i = 0; i < size; ++i) {
      plain[i] = static_cast<std::uint8_t>(i * 7 + 3);
    }
    auto data = plain;
    std::array<std::uint8_t, kTagSize> tag{};
    std::uint64_t counter = 1000 + size;
    ASSERT_TRUE(sealer.seal(counter, header_, data, tag));
    if (size >= 16) {
      EXPECT_NE(data, plain) << "size " << size;
    }
    ASSERT_TRUE(opener.open(counter, header_, data, tag)) << "size " << size;
    EXPECT_EQ(data, plain) << "size " << size;
  }
}

TEST_P(AeadSuiteTest, OneInstanceCanSealAndOpen) {
  AeadCipher c(GetParam(), key_, iv_);
  std::vector<std::uint8_t> data(100, 0x5a);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(c.seal(7, header_, data, tag));
  ASSERT_TRUE(c.open(7, header_, data, tag));
  EXPECT_EQ(data, std::vector<std::uint8_t>(100, 0x5a));
  ASSERT_TRUE(c.seal(8, header_, data, tag));
  ASSERT_TRUE(c.open(8, header_, data, tag));
  EXPECT_EQ(data, std::vector<std::uint8_t>(100, 0x5a));
}

// Lanes hold the same key: each seals exactly as lane 0 does, and two threads sealing and opening
// on their own lanes at once get the results one thread would.
TEST_P(AeadSuiteTest, LanesSealAlikeAndRunOnThreadsAtOnce) {
  AeadCipher c(GetParam(), key_, iv_);
  AeadCipher reference(GetParam(), key_, iv_);
  EXPECT_EQ(c.lanes(), 1u);
  ASSERT_TRUE(c.prepareLanes(3));
  EXPECT_EQ(c.lanes(), 3u);
  ASSERT_TRUE(c.prepareLanes(2));  // never shrinks
  EXPECT_EQ(c.lanes(), 3u);
  auto sealed = [&](std::uint64_t counter) {
    std::vector<std::uint8_t> data(1400);
    for (std::size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<std::uint8_t>(i + counter);
    }
    std::array<std::uint8_t, kTagSize> tag{};
    EXPECT_TRUE(reference.seal(counter, header_, data, tag));
    data.insert(data.end(), tag.begin(), tag.end());
    return data;
  };
  constexpr int kPerLane = 2000;
  std::vector<std::vector<std::uint8_t>> want;
  for (int i = 0; i < 2 * kPerLane; ++i) {
    want.push_back(sealed(static_cast<std::uint64_t>(i)));
  }
  std::array<int, 2> mismatches{};
  auto work = [&](std::size_t lane) {
    for (int k = 0; k < kPerLane; ++k) {
      auto counter = static_cast<std::uint64_t>(k * 2 + static_cast<int>(lane) - 1);
      std::vector<std::uint8_t> data(1400);
      for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::uint8_t>(i + counter);
      }
      std::array<std::uint8_t, kTagSize> tag{};
      bool ok = c.sealOn(lane, counter, header_, data, tag);
      std::vector<std::uint8_t> got = data;
      got.insert(got.end(), tag.begin(), tag.end());
      ok = ok && got == want[counter];
      ok = ok && c.openOn(lane, counter, header_, data, tag);
      if (!ok) {
        ++mismatches[lane - 1];
      }
    }
  };
  std::thread t1(work, 1);
  std::thread t2(work, 2);
  t1.join();
  t2.join();
  EXPECT_EQ(mismatches[0], 0);
  EXPECT_EQ(mismatches[1], 0);
  std::vector<std::uint8_t> data(100, 1);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(c.sealOn(2, 5, header_, data, tag));
  EXPECT_TRUE(c.open(5, header_, data, tag));  // lane 2 sealed, lane 0 opens
}

TEST_P(AeadSuiteTest, DifferentCountersGiveDifferentCiphertexts) {
  AeadCipher c(GetParam(), key_, iv_);
  std::vector<std::uint8_t> a(32, 0), b(32, 0);
  std::array<std::uint8_t, kTagSize> ta{}, tb{};
  ASSERT_TRUE(c.seal(1, header_, a, ta));
  ASSERT_TRUE(c.seal(2, header_, b, tb));
  EXPECT_NE(a, b);
  EXPECT_NE(ta, tb);
}

TEST_P(AeadSuiteTest, AnyTamperingFailsOpen) {
  AeadCipher sealer(GetParam(), key_, iv_);
  AeadCipher opener(GetParam(), key_, iv_);
  const std::vector<std::uint8_t> plain(200, 0x42);
  auto sealed = plain;
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(sealer.seal(42, header_, sealed, tag));

  auto tryOpen = [&](std::uint64_t counter, std::array<std::uint8_t, 8> header,
                     std::vector<std::uint8_t> data, std::array<std::uint8_t, kTagSize> t) {
    return opener.open(counter, header, data, t);
  };
  EXPECT_TRUE(tryOpen(42, header_, sealed, tag));
  EXPECT_FALSE(tryOpen(43, header_, sealed, tag));
  EXPECT_FALSE(tryOpen(42 + (std::uint64_t{1} << 40), header_, sealed, tag));
  for (std::size_t i = 0; i < header_.size(); ++i) {
    auto h = header_;
    h[i] ^= 0x01;
    EXPECT_FALSE(tryOpen(42, h, sealed, tag)) << "aad byte " << i;
  }
  for (std::size_t i : {std::size_t{0}, std::size_t{100}, sealed.size() - 1}) {
    auto d = sealed;
    d[i] ^= 0x80;
    EXPECT_FALSE(tryOpen(42, header_, d, tag)) << "ciphertext byte " << i;
  }
  for (std::size_t i = 0; i < kTagSize; ++i) {
    auto t = tag;
    t[i] ^= 0x01;
    EXPECT_FALSE(tryOpen(42, header_, sealed, t)) << "tag byte " << i;
  }
  auto truncated = sealed;
  truncated.pop_back();
  EXPECT_FALSE(tryOpen(42, header_, truncated, tag));
  // A rejected packet leaves the cipher usable.
  EXPECT_TRUE(tryOpen(42, header_, sealed, tag));
}

TEST_P(AeadSuiteTest, WrongKeyFailsOpen) {
  AeadCipher sealer(GetParam(), key_, iv_);
  auto other = key_;
  other[31] ^= 1;
  AeadCipher opener(GetParam(), other, iv_);
  std::vector<std::uint8_t> data(20, 1);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(sealer.seal(5, header_, data, tag));
  EXPECT_FALSE(opener.open(5, header_, data, tag));
}

// AeadScratch: same wire result as AeadCipher for the same key, with many keys interleaved on
// its shared context.
TEST_P(AeadSuiteTest, ScratchMatchesCipherAndInterleavesKeys) {
  AeadScratch scratch;
  AeadKey k1{key_, iv_};
  AeadKey k2 = k1;
  k2.key[0] ^= 0x11;
  k2.iv[11] ^= 0x22;
  AeadCipher c1(GetParam(), k1.key, k1.iv);
  AeadCipher c2(GetParam(), k2.key, k2.iv);
  for (std::uint64_t counter : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 40}) {
    for (std::size_t size : {0u, 1u, 16u, 17u, 1420u}) {
      const std::vector<std::uint8_t> plain(size, static_cast<std::uint8_t>(size));
      // Seal with the scratch (alternating keys), compare with the ciphers, open both ways.
      auto a1 = plain, a2 = plain, b1 = plain, b2 = plain;
      std::array<std::uint8_t, kTagSize> ta1{}, ta2{}, tb1{}, tb2{};
      ASSERT_TRUE(scratch.seal(GetParam(), k1, counter, header_, a1, ta1));
      ASSERT_TRUE(scratch.seal(GetParam(), k2, counter, header_, a2, ta2));
      ASSERT_TRUE(c1.seal(counter, header_, b1, tb1));
      ASSERT_TRUE(c2.seal(counter, header_, b2, tb2));
      EXPECT_EQ(a1, b1);
      EXPECT_EQ(ta1, tb1);
      EXPECT_EQ(a2, b2);
      EXPECT_EQ(ta2, tb2);
      if (size > 0) {
        EXPECT_NE(a1, a2);
      }
      auto copy = a1;
      EXPECT_FALSE(scratch.open(GetParam(), k2, counter, header_, copy, ta1));
      ASSERT_TRUE(scratch.open(GetParam(), k1, counter, header_, a1, ta1));
      EXPECT_EQ(a1, plain);
      ASSERT_TRUE(c2.open(counter, header_, a2, ta2));
      EXPECT_EQ(a2, plain);
      ASSERT_TRUE(scratch.open(GetParam(), k2, counter, header_, b2, tb2));
      EXPECT_EQ(b2, plain);
    }
  }
}

TEST_P(AeadSuiteTest, ScratchRejectsTamperingAndStaysUsable) {
  AeadScratch scratch;
  AeadKey k{key_, iv_};
  const std::vector<std::uint8_t> plain(64, 0x42);
  auto sealed = plain;
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(scratch.seal(GetParam(), k, 9, header_, sealed, tag));
  auto tryOpen = [&](std::uint64_t counter, std::array<std::uint8_t, 8> header,
                     std::vector<std::uint8_t> data, std::array<std::uint8_t, kTagSize> t) {
    return scratch.open(GetParam(), k, counter, header, data, t);
  };
  EXPECT_FALSE(tryOpen(10, header_, sealed, tag));
  auto h = header_;
  h[3] ^= 1;
  EXPECT_FALSE(tryOpen(9, h, sealed, tag));
  auto d = sealed;
  d[63] ^= 0x80;
  EXPECT_FALSE(tryOpen(9, header_, d, tag));
  auto t = tag;
  t[0] ^= 1;
  EXPECT_FALSE(tryOpen(9, header_, sealed, t));
  EXPECT_TRUE(tryOpen(9, header_, sealed, tag));
}

TEST(AeadTest, ScratchServesBothSuitesAndKeyWipes) {
  AeadScratch scratch;
  AeadKey k;
  k.key.fill(7);
  k.iv.fill(9);
  std::vector<std::uint8_t> a(30, 1), b(30, 1);
  std::array<std::uint8_t, kTagSize> ta{}, tb{};
  ASSERT_TRUE(scratch.seal(CipherSuite::kAes256Gcm, k, 3, {}, a, ta));
  ASSERT_TRUE(scratch.seal(CipherSuite::kChaCha20Poly1305, k, 3, {}, b, tb));
  EXPECT_NE(a, b);
  auto copy = a;
  EXPECT_FALSE(scratch.open(CipherSuite::kChaCha20Poly1305, k, 3, {}, copy, ta));
  EXPECT_TRUE(scratch.open(CipherSuite::kAes256Gcm, k, 3, {}, a, ta));
  EXPECT_TRUE(scratch.open(CipherSuite::kChaCha20Poly1305, k, 3, {}, b, tb));
  k.wipe();
  EXPECT_EQ(k.key, (std::array<std::uint8_t, kKeySize>{}));
  EXPECT_EQ(k.iv, (std::array<std::uint8_t, kIvSize>{}));
}

INSTANTIATE_TEST_SUITE_P(BothSuites, AeadSuiteTest,
                         ::testing::Values(CipherSuite::kAes256Gcm,
                                           CipherSuite::kChaCha20Poly1305),
                         [](const auto& param_info) {
                           return param_info.param == CipherSuite::kAes256Gcm ? "Aes256Gcm"
                                                                        : "ChaCha20Poly1305";
                         });

TEST(AeadTest, SuitesDoNotInteroperate) {
  auto key = key32("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  auto iv = iv12("000000000000000000000000");
  AeadCipher aes(CipherSuite::kAes256Gcm, key, iv);
  AeadCipher chacha(CipherSuite::kChaCha20Poly1305, key, iv);
  std::vector<std::uint8_t> data(16, 9);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(aes.seal(0, {}, data, tag));
  EXPECT_FALSE(chacha.open(0, {}, data, tag));
}

TEST(AeadTest, CipherNames) {
  EXPECT_EQ(toString(CipherSuite::kAes256Gcm), "aes-256-gcm");
  EXPECT_EQ(toString(CipherSuite::kChaCha20Poly1305), "chacha20-poly1305");
  CipherSuite c = CipherSuite::kAes256Gcm;
  ASSERT_TRUE(parseCipher("chacha20-poly1305", c));
  EXPECT_EQ(c, CipherSuite::kChaCha20Poly1305);
  ASSERT_TRUE(parseCipher("aes-256-gcm", c));
  EXPECT_EQ(c, CipherSuite::kAes256Gcm);
  EXPECT_FALSE(parseCipher("AES-256-GCM", c));
  EXPECT_FALSE(parseCipher("aes-128-gcm", c));
  EXPECT_FALSE(parseCipher("", c));
  EXPECT_EQ(c, CipherSuite::kAes256Gcm);
}

TEST(AeadTest, DefaultOrderFollowsCpu) {
  auto order = defaultCipherOrder();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_NE(order[0], order[1]);
  EXPECT_EQ(order[0] == CipherSuite::kAes256Gcm, cpuHasAesAcceleration());
}

}  // namespace
}  // namespace vpn::crypto
