// Fashion-MNIST (Zalando Research): 28x28 grey-scale images of clothing in
// 10 classes, 60000 for training and 10000 for testing, as Debian's
// `dataset-fashion-mnist` package installs them (IDX files, gzip-compressed)
// in /usr/share/datasets/fashion-mnist/.
//
// Used by the learning benchmark (bench/continual_bench) and by demos: the
// original images are one distribution, the same images rotated
// (Rotate90, Rotate180), brightened or with less contrast (AdjustIntensity)
// drifted ones.
//
// Plain C++ on lib/data/idx.h.
#ifndef CONTINUUM_LIB_DATA_FASHION_MNIST_H_
#define CONTINUUM_LIB_DATA_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace continuum::data {

// Where Debian's package puts the files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
inline constexpr int kFashionMnistClasses = 10;

// Images with a class label each.
struct LabeledImages {
  int height = 0;
  int width = 0;
  // size() * height * width pixels, row-major per image, scaled to [0, 1]
  // (byte / 255).
  std::vector<float> pixels;
  // One class index per image, in [0, kFashionMnistClasses).
  std::vector<int> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  // Features per image: height * width (784).
  int feature_dim() const { return height * width; }
};

enum class FashionMnistSplit {
  kTrain,  // train-{images-idx3,labels-idx1}-ubyte.gz, 60000 images
  kTest,   // t10k-{images-idx3,labels-idx1}-ubyte.gz, 10000 images
};

// Loads a split from `dir`, the first `limit` images when limit > 0.
// NOT_FOUND naming the missing file, with the hint to run
// `apt-get install dataset-fashion-mnist`; DATA_LOSS for a corrupt file
// (bad magic, truncation, images and labels of different counts, a label
// out of range); other errors as ReadIdxFile.
absl::StatusOr<LabeledImages> LoadFashionMnist(
    FashionMnistSplit split, int64_t limit = 0,
    const std::string& dir = kFashionMnistDir);

// The images rotated by 90 degrees clockwise (labels unchanged): pixel
// (r, c) of the result is pixel (height - 1 - c, r) of the input; the
// result is width x height.
LabeledImages Rotate90(const LabeledImages& images);

// The images rotated by 180 degrees (labels unchanged): each image's pixel
// order reversed.
LabeledImages Rotate180(const LabeledImages& images);

// Each pixel p mapped to clamp(gain * p + offset, 0, 1) (labels
// unchanged): gain 1, offset 0.3 brightens (the black background becomes
// grey 0.3); gain 0.4, offset 0.3 lowers the contrast.
LabeledImages AdjustIntensity(const LabeledImages& images, float gain,
                              float offset);

}  // namespace continuum::data

#endif  // CONTINUUM_LIB_DATA_FASHION_MNIST_H_
