#include "lib/model/bundle.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/model/bundle_test_util.h"
#include "lib/store/crc32c.h"
#include "lib/store/fault_injection_file_system.h"
#include "lib/store/file_system.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;
using bundle_testing::TinyBundle;

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "/model_bundle_test_", ::getpid(),
                      "_", name);
}

TEST(BundleTest, RoundTrip) {
  ModelBundle bundle = TinyBundle();
  ASSERT_TRUE(ValidateBundle(bundle).ok()) << ValidateBundle(bundle);
  absl::StatusOr<std::string> bytes = SerializeBundle(bundle);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(absl::StartsWith(*bytes, "CTMBNDL1"));
  // Deterministic.
  EXPECT_EQ(*bytes, *SerializeBundle(bundle));
  uint32_t crc =
      store::Crc32c(absl::string_view(*bytes).substr(0, bytes->size() - 4));
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[bytes->size() - 4]),
            crc & 0xff);
  absl::StatusOr<ModelBundle> parsed = ParseBundle(*bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(bundle, *parsed));
  EXPECT_TRUE(ValidateBundle(*parsed).ok());
}

TEST(BundleTest, EveryFlippedByteIsDataLoss) {
  std::string bytes = *SerializeBundle(TinyBundle());
  for (size_t i = 0; i < bytes.size(); i += 7) {
    std::string bad = bytes;
    bad[i] ^= 0x10;
    absl::StatusOr<ModelBundle> parsed = ParseBundle(bad);
    ASSERT_FALSE(parsed.ok()) << "byte " << i;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss) << i;
  }
  std::string bad = bytes;
  bad[bytes.size() / 2] ^= 1;
  EXPECT_THAT(std::string(ParseBundle(bad).status().message()),
              HasSubstr("CRC-32C mismatch"));
}

TEST(BundleTest, BadMagicTruncatedAndGarbage) {
  std::string bytes = *SerializeBundle(TinyBundle());
  std::string bad = bytes;
  bad.replace(0, 8, "CTMBNDL2");
  EXPECT_EQ(ParseBundle(bad).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ParseBundle(bad).status().message()),
              HasSubstr("CTMBNDL1"));
  EXPECT_EQ(ParseBundle("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseBundle("CTMBNDL").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseBundle(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  // A correct CRC over a body that is not a ModelBundle.
  std::string garbage = "CTMBNDL1\xff\xff\xff\xff";
  uint32_t crc = store::Crc32c(garbage);
  for (int i = 0; i < 4; ++i)
    garbage.push_back(static_cast<char>(crc >> (8 * i)));
  absl::Status s = ParseBundle(garbage).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not parse"));
}

TEST(BundleFileTest, AtomicWriteAndRead) {
  std::string path = TempPath("atomic.ctm");
  ModelBundle first = TinyBundle();
  ASSERT_TRUE(WriteBundleFile(path, first).ok());
  absl::StatusOr<ModelBundle> read = ReadBundleFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, *read));

  // A failed replacement leaves the old file whole.
  store::FaultInjectionFileSystem fs(store::DefaultFileSystem());
  fs.SetDiskFull(true);
  ModelBundle second = TinyBundle();
  second.mutable_manifest()->set_model("second");
  EXPECT_FALSE(WriteBundleFile(path, second, &fs).ok());
  read = ReadBundleFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->manifest().model(), "tiny");
  fs.SetDiskFull(false);
  ASSERT_TRUE(WriteBundleFile(path, second, &fs).ok());
  EXPECT_EQ(ReadBundleFile(path)->manifest().model(), "second");

  // No temporary file is left behind.
  absl::StatusOr<std::vector<std::string>> children =
      store::DefaultFileSystem()->GetChildren(::testing::TempDir());
  ASSERT_TRUE(children.ok());
  for (const std::string& c : *children) {
    EXPECT_FALSE(absl::StartsWith(
        c, absl::StrCat("model_bundle_test_", ::getpid(), "_atomic.ctm.")))
        << c;
  }

  // A corrupted file is DATA_LOSS naming the path; a missing one NOT_FOUND.
  std::string bytes = *store::DefaultFileSystem()->ReadFileToString(path);
  bytes[20] ^= 0xff;
  ASSERT_TRUE(
      store::DefaultFileSystem()->WriteFileAtomically(path, bytes).ok());
  absl::Status s = ReadBundleFile(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_EQ(ReadBundleFile(TempPath("missing")).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store::DefaultFileSystem()->DeleteFile(path).ok());
}

TEST(BundleSpecTest, LayerWidthsAndFamilies) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_AUTOENCODER);
  spec.set_input_dim(32);
  spec.add_hidden_sizes(16);
  std::vector<std::pair<int64_t, int64_t>> widths = LayerWidths(spec);
  // 32 -> 16 -> latent 4 -> 16 -> 32.
  ASSERT_EQ(widths.size(), 4u);
  EXPECT_EQ(widths[1], (std::pair<int64_t, int64_t>(16, 4)));
  EXPECT_EQ(widths[3], (std::pair<int64_t, int64_t>(16, 32)));
  EXPECT_EQ(OutputWidth(spec), 1);
  spec.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  spec.clear_hidden_sizes();
  spec.set_output_dim(10);
  widths = LayerWidths(spec);
  ASSERT_EQ(widths.size(), 2u);
  EXPECT_EQ(widths[0], (std::pair<int64_t, int64_t>(32, 256)));
  EXPECT_EQ(*ParseFamily("MLP_Regressor"), v1::MODEL_FAMILY_MLP_REGRESSOR);
  EXPECT_EQ(ParseFamily("cnn").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::model
