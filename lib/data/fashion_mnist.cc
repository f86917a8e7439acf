#include "lib/data/fashion_mnist.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/data/idx.h"

namespace continuum::data {
namespace {

absl::StatusOr<IdxArray> ReadPart(const std::string& path, int64_t limit) {
  absl::StatusOr<IdxArray> array = ReadIdxFile(path, limit);
  if (absl::IsNotFound(array.status())) {
    return absl::NotFoundError(
        absl::StrCat(array.status().message(),
                     "; Fashion-MNIST comes with Debian's package: "
                     "apt-get install dataset-fashion-mnist"));
  }
  return array;
}

}  // namespace

absl::StatusOr<LabeledImages> LoadFashionMnist(FashionMnistSplit split,
                                               int64_t limit,
                                               const std::string& dir) {
  const std::string prefix =
      split == FashionMnistSplit::kTrain ? "train" : "t10k";
  const std::string images_path =
      absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz");
  const std::string labels_path =
      absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz");
  absl::StatusOr<IdxArray> images = ReadPart(images_path, limit);
  if (!images.ok()) return images.status();
  absl::StatusOr<IdxArray> labels = ReadPart(labels_path, limit);
  if (!labels.ok()) return labels.status();
  if (images->dims.size() != 3) {
    return absl::DataLossError(absl::StrCat(
        images_path, ": ", images->dims.size(), " dimensions; images have 3"));
  }
  if (labels->dims.size() != 1) {
    return absl::DataLossError(absl::StrCat(
        labels_path, ": ", labels->dims.size(), " dimensions; labels have 1"));
  }
  if (images->dims[0] != labels->dims[0]) {
    return absl::DataLossError(
        absl::StrCat(images_path, " holds ", images->dims[0], " images but ",
                     labels_path, " holds ", labels->dims[0], " labels"));
  }
  LabeledImages out;
  out.height = static_cast<int>(images->dims[1]);
  out.width = static_cast<int>(images->dims[2]);
  out.pixels.resize(images->data.size());
  for (size_t i = 0; i < images->data.size(); ++i) {
    out.pixels[i] = static_cast<float>(images->data[i]) / 255.0f;
  }
  out.labels.resize(labels->data.size());
  for (size_t i = 0; i < labels->data.size(); ++i) {
    const int label = labels->data[i];
    if (label >= kFashionMnistClasses) {
      return absl::DataLossError(absl::StrCat(labels_path, ": label ", label,
                                              " of image ", i,
                                              " is out of range [0, 10)"));
    }
    out.labels[i] = label;
  }
  return out;
}

LabeledImages Rotate90(const LabeledImages& images) {
  LabeledImages out;
  out.height = images.width;
  out.width = images.height;
  out.labels = images.labels;
  out.pixels.resize(images.pixels.size());
  const int64_t pixels = static_cast<int64_t>(images.height) * images.width;
  for (int64_t n = 0; n < images.size(); ++n) {
    const float* in = images.pixels.data() + n * pixels;
    float* o = out.pixels.data() + n * pixels;
    for (int r = 0; r < out.height; ++r) {
      for (int c = 0; c < out.width; ++c) {
        o[r * out.width + c] = in[(images.height - 1 - c) * images.width + r];
      }
    }
  }
  return out;
}

LabeledImages Rotate180(const LabeledImages& images) {
  LabeledImages out = images;
  const int64_t pixels = static_cast<int64_t>(images.height) * images.width;
  for (int64_t n = 0; n < images.size(); ++n) {
    std::reverse(out.pixels.begin() + n * pixels,
                 out.pixels.begin() + (n + 1) * pixels);
  }
  return out;
}

LabeledImages AdjustIntensity(const LabeledImages& images, float gain,
                              float offset) {
  LabeledImages out = images;
  for (float& p : out.pixels) p = std::clamp(gain * p + offset, 0.0f, 1.0f);
  return out;
}

}  // namespace continuum::data
