// IDX files: the format of the MNIST family of data sets
// (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE").
//
//   2 zero bytes, the element type (0x08 = unsigned byte), the number of
//   dimensions d, then d big-endian uint32 sizes, then the elements,
//   row-major.
//
// Files may be gzip-compressed (recognised by their content, not their
// name) or raw. Only unsigned-byte elements are supported: they are all the
// MNIST-family files hold.
//
// Plain C++ on zlib and Abseil.
#ifndef CONTINUUM_LIB_DATA_IDX_H_
#define CONTINUUM_LIB_DATA_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace continuum::data {

// The element type code of unsigned bytes, the one supported.
inline constexpr uint8_t kIdxUnsignedByte = 0x08;

// An IDX array of unsigned bytes.
struct IdxArray {
  // Sizes, outermost first; e.g. [60000, 28, 28] for MNIST images.
  std::vector<int64_t> dims;
  // The elements, row-major; size() = product of dims.
  std::vector<uint8_t> data;
};

// Reads the IDX file `path`, gzip-compressed or raw. Errors:
// - NOT_FOUND: no such file (the message names the path);
// - DATA_LOSS: a bad magic, fewer or more bytes than the header announces,
//   a corrupt gzip stream;
// - UNIMPLEMENTED: an element type other than unsigned byte;
// - other codes for I/O errors (the message names the path).
// `max_items`, when > 0, reads only the first `max_items` entries of the
// outermost dimension (dims[0] is then min(dims[0], max_items)); the bytes
// after them are not read, so the check for trailing bytes is skipped.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     int64_t max_items = 0);

// Writes `array` to `path` as an IDX file of unsigned bytes, gzip-compressed
// when `gzip` is true. INVALID_ARGUMENT if data.size() is not the product of
// dims, a dimension is negative or above 2^32 - 1, or there are more than
// 255 dimensions; INTERNAL/other codes for I/O errors. For tests and tools.
absl::Status WriteIdxFile(const std::string& path, const IdxArray& array,
                          bool gzip);

}  // namespace continuum::data

#endif  // CONTINUUM_LIB_DATA_IDX_H_
