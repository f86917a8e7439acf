#include "lib/data/idx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/data/fashion_mnist.h"

namespace continuum::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/data_idx_test_", ::getpid(), "_",
                      counter.fetch_add(1), "_", name);
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A 3 x 2 x 2 array 0..11, as IDX bytes written by hand.
std::string HandMadeIdx() {
  std::string b = {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  for (char i = 0; i < 12; ++i) b.push_back(i);
  return b;
}

class IdxTest : public ::testing::TestWithParam<bool> {};

TEST_P(IdxTest, ReadsHandMadeFile) {
  const bool gzip = GetParam();
  const std::string path = TempPath("hand.idx");
  if (gzip) {
    WriteGzip(path, HandMadeIdx());
  } else {
    WriteRaw(path, HandMadeIdx());
  }
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->dims, ElementsAre(3, 2, 2));
  ASSERT_EQ(a->data.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(a->data[i], i);

  absl::StatusOr<IdxArray> first = ReadIdxFile(path, /*max_items=*/2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->dims, ElementsAre(2, 2, 2));
  EXPECT_EQ(first->data.size(), 8u);
  EXPECT_EQ(first->data[7], 7);
}

TEST_P(IdxTest, WriteThenRead) {
  const bool gzip = GetParam();
  const std::string path = TempPath("roundtrip.idx");
  IdxArray a;
  a.dims = {4, 5};
  for (int i = 0; i < 20; ++i) a.data.push_back(static_cast<uint8_t>(i * 13));
  ASSERT_TRUE(WriteIdxFile(path, a, gzip).ok());
  const std::string bytes = ReadAll(path);
  ASSERT_GE(bytes.size(), 2u);
  // gzip's magic 1f 8b, or the raw IDX magic.
  if (gzip) {
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x1f);
    EXPECT_EQ(static_cast<uint8_t>(bytes[1]), 0x8b);
  } else {
    EXPECT_EQ(bytes.size(), 4u + 8u + 20u);
    EXPECT_EQ(bytes[2], 0x08);
  }
  absl::StatusOr<IdxArray> b = ReadIdxFile(path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->dims, a.dims);
  EXPECT_EQ(b->data, a.data);
}

TEST_P(IdxTest, BadMagicIsDataLoss) {
  const std::string path = TempPath("bad.idx");
  std::string bytes = HandMadeIdx();
  bytes[0] = 1;
  GetParam() ? WriteGzip(path, bytes) : WriteRaw(path, bytes);
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
  EXPECT_THAT(a.status().message(), HasSubstr("bad IDX magic"));
  EXPECT_THAT(a.status().message(), HasSubstr(path));
}

TEST_P(IdxTest, TruncatedDataIsDataLoss) {
  const std::string path = TempPath("short.idx");
  std::string bytes = HandMadeIdx();
  bytes.resize(bytes.size() - 3);
  GetParam() ? WriteGzip(path, bytes) : WriteRaw(path, bytes);
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
  EXPECT_THAT(a.status().message(), HasSubstr("truncated: 9 of 12"));
}

TEST_P(IdxTest, TruncatedHeaderIsDataLoss) {
  const std::string path = TempPath("header.idx");
  std::string bytes = HandMadeIdx().substr(0, 9);
  GetParam() ? WriteGzip(path, bytes) : WriteRaw(path, bytes);
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
  EXPECT_THAT(a.status().message(), HasSubstr("truncated header"));
}

TEST_P(IdxTest, TrailingBytesAreDataLoss) {
  const std::string path = TempPath("long.idx");
  std::string bytes = HandMadeIdx() + "x";
  GetParam() ? WriteGzip(path, bytes) : WriteRaw(path, bytes);
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
}

TEST_P(IdxTest, OtherElementTypesAreUnimplemented) {
  const std::string path = TempPath("float.idx");
  std::string bytes = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  GetParam() ? WriteGzip(path, bytes) : WriteRaw(path, bytes);
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented) << a.status();
}

INSTANTIATE_TEST_SUITE_P(RawAndGzip, IdxTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Gzip" : "Raw";
                         });

TEST(IdxFileTest, CorruptGzipStreamIsDataLoss) {
  const std::string gz = TempPath("corrupt.gz");
  WriteGzip(gz, HandMadeIdx());
  std::string bytes = ReadAll(gz);
  // Cut the compressed stream in the middle: its end and CRC are missing.
  WriteRaw(gz, bytes.substr(0, bytes.size() / 2));
  absl::StatusOr<IdxArray> a = ReadIdxFile(gz);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
}

TEST(IdxFileTest, MissingFileIsNotFound) {
  const std::string path = TempPath("missing.idx");
  absl::StatusOr<IdxArray> a = ReadIdxFile(path);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound) << a.status();
  EXPECT_THAT(a.status().message(), HasSubstr(path));
}

TEST(IdxFileTest, WriteRejectsMismatchedData) {
  IdxArray a;
  a.dims = {2, 2};
  a.data = {1, 2, 3};
  EXPECT_EQ(WriteIdxFile(TempPath("x.idx"), a, false).code(),
            absl::StatusCode::kInvalidArgument);
}

// Writes a tiny Fashion-MNIST look-alike: 3 images of 2 x 3.
std::string FakeFashionMnistDir(std::vector<uint8_t> labels = {0, 9, 4}) {
  const std::string dir = TempPath("fmnist");
  std::filesystem::create_directories(dir);
  IdxArray images;
  images.dims = {3, 2, 3};
  for (int i = 0; i < 18; ++i) images.data.push_back(static_cast<uint8_t>(i));
  images.data[0] = 255;
  IdxArray l;
  l.dims = {static_cast<int64_t>(labels.size())};
  l.data = labels;
  EXPECT_TRUE(
      WriteIdxFile(dir + "/t10k-images-idx3-ubyte.gz", images, true).ok());
  EXPECT_TRUE(WriteIdxFile(dir + "/t10k-labels-idx1-ubyte.gz", l, true).ok());
  return dir;
}

TEST(FashionMnistTest, LoadsAndScales) {
  const std::string dir = FakeFashionMnistDir();
  absl::StatusOr<LabeledImages> images =
      LoadFashionMnist(FashionMnistSplit::kTest, 0, dir);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->size(), 3);
  EXPECT_EQ(images->height, 2);
  EXPECT_EQ(images->width, 3);
  EXPECT_THAT(images->labels, ElementsAre(0, 9, 4));
  ASSERT_EQ(images->pixels.size(), 18u);
  EXPECT_FLOAT_EQ(images->pixels[0], 1.0f);
  EXPECT_FLOAT_EQ(images->pixels[6], 6.0f / 255.0f);

  absl::StatusOr<LabeledImages> two =
      LoadFashionMnist(FashionMnistSplit::kTest, 2, dir);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->size(), 2);
  EXPECT_EQ(two->pixels.size(), 12u);
}

TEST(FashionMnistTest, MissingFilesNameThePackage) {
  const std::string dir = FakeFashionMnistDir();
  absl::StatusOr<LabeledImages> images =
      LoadFashionMnist(FashionMnistSplit::kTrain, 0, dir);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(images.status().message(),
              HasSubstr("train-images-idx3-ubyte.gz"));
  EXPECT_THAT(images.status().message(),
              HasSubstr("apt-get install dataset-fashion-mnist"));
}

TEST(FashionMnistTest, LabelOutOfRangeIsDataLoss) {
  const std::string dir = FakeFashionMnistDir({0, 10, 1});
  absl::StatusOr<LabeledImages> images =
      LoadFashionMnist(FashionMnistSplit::kTest, 0, dir);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(images.status().message(), HasSubstr("label 10"));
}

TEST(FashionMnistTest, CountMismatchIsDataLoss) {
  const std::string dir = FakeFashionMnistDir({0, 1});
  absl::StatusOr<LabeledImages> images =
      LoadFashionMnist(FashionMnistSplit::kTest, 0, dir);
  EXPECT_EQ(images.status().code(), absl::StatusCode::kDataLoss);
}

TEST(FashionMnistTest, Rotate90Clockwise) {
  // 2 x 3 image:  a b c      rotated (3 x 2):  d a
  //               d e f                        e b
  //                                            f c
  LabeledImages in;
  in.height = 2;
  in.width = 3;
  in.pixels = {1, 2, 3, 4, 5, 6};
  in.labels = {7};
  LabeledImages out = Rotate90(in);
  EXPECT_EQ(out.height, 3);
  EXPECT_EQ(out.width, 2);
  EXPECT_THAT(out.pixels, ElementsAre(4, 1, 5, 2, 6, 3));
  EXPECT_THAT(out.labels, ElementsAre(7));
  // Four turns give the image back.
  LabeledImages back = Rotate90(Rotate90(Rotate90(out)));
  EXPECT_EQ(back.pixels, in.pixels);
}

TEST(FashionMnistTest, Rotate180AndIntensity) {
  LabeledImages in;
  in.height = 2;
  in.width = 2;
  in.pixels = {0, 0.25f, 0.5f, 1, 1, 0, 0, 0};
  in.labels = {1, 2};
  LabeledImages turned = Rotate180(in);
  EXPECT_THAT(turned.pixels, ElementsAre(1, 0.5f, 0.25f, 0, 0, 0, 0, 1));
  EXPECT_THAT(turned.labels, ElementsAre(1, 2));
  // Brighter: clamped to 1. Less contrast: 0.4 p + 0.3.
  EXPECT_THAT(AdjustIntensity(in, 1, 0.3f).pixels,
              ElementsAre(0.3f, 0.55f, 0.8f, 1, 1, 0.3f, 0.3f, 0.3f));
  std::vector<float> low = AdjustIntensity(in, 0.4f, 0.3f).pixels;
  EXPECT_FLOAT_EQ(low[0], 0.3f);
  EXPECT_FLOAT_EQ(low[3], 0.7f);
  EXPECT_FLOAT_EQ(low[2], 0.5f);
}

TEST(FashionMnistTest, RealPackageFiles) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) +
                               "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kFashionMnistDir
                 << " is missing: apt-get install dataset-fashion-mnist";
  }
  absl::StatusOr<LabeledImages> test =
      LoadFashionMnist(FashionMnistSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->feature_dim(), 784);
  std::vector<int> per_class(kFashionMnistClasses, 0);
  for (int label : test->labels) ++per_class[label];
  // The test split is balanced: 1000 images per class.
  for (int count : per_class) EXPECT_EQ(count, 1000);
  float lo = 1, hi = 0;
  for (float p : test->pixels) lo = std::min(lo, p), hi = std::max(hi, p);
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);

  absl::StatusOr<LabeledImages> train =
      LoadFashionMnist(FashionMnistSplit::kTrain, 100);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->size(), 100);
  EXPECT_EQ(train->pixels.size(), 100u * 784u);
}

}  // namespace
}  // namespace continuum::data
