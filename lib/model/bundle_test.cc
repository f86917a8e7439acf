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
#include "lib/model/model.h"
#include "lib/store/crc32c.h"
#include "lib/store/fault_injection_file_system.h"
#include "lib/store/file_system.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;

// A valid 4-3-2 classifier with warm-up rows, a Fisher diagonal and
// reference statistics.
ModelBundle TinyBundle() {
  v1::ArtifactManifest manifest;
  manifest.set_model("tiny");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(4);
  manifest.mutable_spec()->set_output_dim(2);
  manifest.mutable_spec()->add_hidden_sizes(3);
  absl::StatusOr<ModelBundle> bundle = Model::InitBundle(manifest, 7);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  for (const auto& w : bundle->weights()) {
    internal::v1::NamedTensor* f = bundle->add_fisher();
    f->set_name(w.name());
    *f->mutable_tensor()->mutable_shape() = w.tensor().shape();
    for (int i = 0; i < w.tensor().data_size(); ++i) {
      f->mutable_tensor()->add_data(0.5f);
    }
  }
  bundle->mutable_reference()->set_sample_count(100);
  for (int i = 0; i < 4; ++i) {
    v1::FeatureReference* f = bundle->mutable_reference()->add_features();
    f->set_index(i);
    f->set_mean(i);
    f->add_bin_edges(0);
    f->add_bin_edges(1);
    f->add_bin_counts(100);
  }
  bundle->mutable_manifest()->mutable_thresholds()->set_decision_threshold(
      0.5f);
  (*bundle->mutable_manifest()->mutable_hyperparameters())["epochs"] = "2";
  (*bundle->mutable_manifest()->mutable_hyperparameters())["lr"] = "0.001";
  return *bundle;
}

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

// Expects ValidateBundle to fail with `code` and a message containing each
// of `parts`.
void ExpectInvalid(const ModelBundle& bundle,
                   std::initializer_list<absl::string_view> parts,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::Status s = ValidateBundle(bundle);
  EXPECT_EQ(s.code(), code) << s;
  for (absl::string_view p : parts) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(p)));
  }
}

TEST(ValidateBundleTest, WrongTensorSize) {
  ModelBundle b = TinyBundle();
  b.mutable_weights(0)->mutable_tensor()->mutable_data()->RemoveLast();
  ExpectInvalid(b, {"layers.0.weight", "needs 12 values", "holds 11"});
}

TEST(ValidateBundleTest, FirstLayerShapeDisagreesWithManifest) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_input_dim(5);
  b.mutable_manifest()->clear_parameters();
  ExpectInvalid(b, {"layers.0.weight", "[3, 4]", "[3, 5]"});
}

TEST(ValidateBundleTest, LastLayerShapeDisagreesWithClasses) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_output_dim(3);
  ExpectInvalid(b, {"layers.1.weight", "[2, 3]", "[3, 3]"});
}

TEST(ValidateBundleTest, ManifestParametersDisagree) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_parameters(2)->set_shape(0, 7);
  ExpectInvalid(b, {"manifest.parameters[2]", "layers.1.weight"});
}

TEST(ValidateBundleTest, MissingAndExtraTensors) {
  ModelBundle b = TinyBundle();
  b.mutable_weights()->RemoveLast();
  ExpectInvalid(b, {"layers.1.bias", "missing"});
  b = TinyBundle();
  *b.add_weights() = b.weights(0);
  ExpectInvalid(b, {"unexpected tensor"});
  b = TinyBundle();
  b.mutable_weights(1)->set_name("layers.0.bais");
  ExpectInvalid(b, {"layers.0.bais", "layers.0.bias"});
}

TEST(ValidateBundleTest, NanAndInfWeights) {
  ModelBundle b = TinyBundle();
  b.mutable_weights(2)->mutable_tensor()->set_data(
      4, std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(b, {"layers.1.weight", "element 4 is NaN"});
  b = TinyBundle();
  b.mutable_weights(1)->mutable_tensor()->set_data(
      0, std::numeric_limits<float>::infinity());
  ExpectInvalid(b, {"layers.0.bias", "infinite"});
}

TEST(ValidateBundleTest, Family) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_family(
      static_cast<v1::ModelFamily>(99));
  ExpectInvalid(b, {"family 99 is unknown"});
  b.mutable_manifest()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_UNSPECIFIED);
  ExpectInvalid(b, {"family is not set"});
  b.mutable_manifest()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_GRU_FORECASTER);
  ExpectInvalid(b, {"gru_forecaster"}, absl::StatusCode::kUnimplemented);
}

TEST(ValidateBundleTest, FormatVersion) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->set_format_version(2);
  ExpectInvalid(b, {"format_version is 2"});
}

TEST(ValidateBundleTest, Normalisation) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_normalization()->add_mean(0);
  ExpectInvalid(b, {"manifest.normalization", "mean has 5", "must have 4"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_normalization()->set_std(2, 0);
  ExpectInvalid(b, {"manifest.normalization.std[2]"});
  b = TinyBundle();
  b.mutable_target_normalization()->add_mean(1);
  b.mutable_target_normalization()->add_std(1);
  ExpectInvalid(b, {"only regressors"});
}

TEST(ValidateBundleTest, WarmupInputs) {
  ModelBundle b = TinyBundle();
  b.mutable_warmup_inputs()->set_shape(1, 5);
  ExpectInvalid(b, {"warmup_inputs", "[8, 5]", "[n, 4]"});
  b = TinyBundle();
  b.mutable_warmup_inputs()->mutable_data()->RemoveLast();
  ExpectInvalid(b, {"warmup_inputs", "needs 32 values"});
  b = TinyBundle();
  b.mutable_manifest()->set_warmup_rows(3);
  ExpectInvalid(b, {"warmup_rows is 3", "holds 8 rows"});
  b = TinyBundle();
  b.clear_warmup_inputs();
  b.mutable_manifest()->set_warmup_rows(0);
  EXPECT_TRUE(ValidateBundle(b).ok());
}

TEST(ValidateBundleTest, FisherThresholdsSchemaReference) {
  ModelBundle b = TinyBundle();
  b.mutable_fisher(0)->set_name("layers.9.weight");
  ExpectInvalid(b, {"fisher", "layers.9.weight", "names no parameter"});
  b = TinyBundle();
  b.mutable_fisher(1)->mutable_tensor()->set_data(0, -1);
  ExpectInvalid(b, {"fisher: tensor layers.0.bias", "negative"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_thresholds()->set_anomaly_threshold(
      std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(b, {"anomaly_threshold"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_output_schema()->set_shape(0, 3);
  ExpectInvalid(b, {"manifest.output_schema", "expected [2]"});
  b = TinyBundle();
  b.mutable_reference()->mutable_features()->RemoveLast();
  ExpectInvalid(b, {"reference", "3 feature statistics"});
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
