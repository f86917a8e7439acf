#include "lib/store/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace continuum::store {
namespace {

TEST(Crc32cTest, StandardVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string data = "hello, durable world; a somewhat longer string";
  for (size_t split = 0; split <= data.size(); ++split) {
    EXPECT_EQ(ExtendCrc32c(Crc32c(data.substr(0, split)), data.substr(split)),
              Crc32c(data))
        << "split at " << split;
  }
}

TEST(Crc32cTest, DifferentDataDifferentCrc) {
  EXPECT_NE(Crc32c("a"), Crc32c("foo"));
  EXPECT_NE(Crc32c("bar"), Crc32c("foo"));
}

TEST(Crc32cTest, PortableAndSse42Agree) {
  std::mt19937 rng(42);
  std::string data(100000 + 7, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t start : {0, 1, 3, 7}) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 767, 768, 769, 1000, 4096,
                     24575, 24576, 24577, 50000, 100000}) {
      const uint32_t portable =
          crc32c_internal::ExtendPortable(0, data.data() + start, n);
      EXPECT_EQ(portable, Crc32c(absl::string_view(data.data() + start, n)));
      if (crc32c_internal::CanUseSse42()) {
        EXPECT_EQ(crc32c_internal::ExtendSse42(0, data.data() + start, n),
                  portable)
            << "start " << start << " n " << n;
        EXPECT_EQ(
            crc32c_internal::ExtendSse42(0x12345678u, data.data() + start, n),
            crc32c_internal::ExtendPortable(0x12345678u, data.data() + start,
                                            n));
      }
    }
  }
  EXPECT_EQ(crc32c_internal::ExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, MaskRoundTrip) {
  const uint32_t crc = Crc32c("foo");
  EXPECT_NE(crc, MaskCrc(crc));
  EXPECT_NE(crc, MaskCrc(MaskCrc(crc)));
  EXPECT_EQ(crc, UnmaskCrc(MaskCrc(crc)));
  EXPECT_EQ(crc, UnmaskCrc(UnmaskCrc(MaskCrc(MaskCrc(crc)))));
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t v = static_cast<uint32_t>(rng());
    EXPECT_EQ(UnmaskCrc(MaskCrc(v)), v);
  }
  EXPECT_EQ(UnmaskCrc(MaskCrc(0)), 0u);
  EXPECT_EQ(UnmaskCrc(MaskCrc(0xFFFFFFFFu)), 0xFFFFFFFFu);
}

}  // namespace
}  // namespace continuum::store
