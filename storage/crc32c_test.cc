#include "storage/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace kvd::storage {
namespace {

std::string Bytes(int n, int (*f)(int)) {
  std::string s(n, '\0');
  for (int i = 0; i < n; ++i) s[i] = static_cast<char>(f(i));
  return s;
}

// Test vectors from RFC 3720, appendix B.4, and the customary check value.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(Bytes(32, [](int i) { return i; })), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(Bytes(32, [](int i) { return 31 - i; })), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, PortableMatchesKnownVectors) {
  EXPECT_EQ(Crc32cPortable(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable(0, std::string(32, '\xFF')), 0x62A8AB43u);
}

// The hardware and table implementations agree on every length and alignment, and extending a
// CRC equals computing it over the concatenation.
TEST(Crc32cTest, ImplementationsAgreeAndExtend) {
  std::mt19937_64 rng(7);
  std::string buf(4096 + 16, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t len = 0; len <= 300; ++len) {
    for (size_t align = 0; align < 8; ++align) {
      const std::string_view s(buf.data() + align, len);
      ASSERT_EQ(Crc32c(s), Crc32cPortable(0, s)) << "len " << len << " align " << align;
      const size_t cut = len / 3;
      ASSERT_EQ(Crc32c(Crc32c(s.substr(0, cut)), s.substr(cut)), Crc32c(s));
    }
  }
  EXPECT_EQ(Crc32c(std::string_view(buf)), Crc32cPortable(0, buf));
  std::cout << "hardware CRC32C: " << (Crc32cIsHardwareAccelerated() ? "yes" : "no") << "\n";
}

}  // namespace
}  // namespace kvd::storage
