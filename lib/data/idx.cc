#include "lib/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace continuum::data {
namespace {

// Refuse headers announcing more than this many elements (16 GiB): a
// corrupt header must not make us allocate without bound.
constexpr int64_t kMaxElements = int64_t{1} << 34;

// Closes a gzFile on scope exit.
struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// Reads up to `n` bytes; returns the count read (< n at the end of the
// file) or an error for a corrupt stream or an I/O error.
absl::StatusOr<int64_t> ReadBytes(gzFile f, const std::string& path,
                                  uint8_t* out, int64_t n) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk =
        static_cast<unsigned>(std::min<int64_t>(n - done, int64_t{1} << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) {
      int code = Z_OK;
      const char* message = gzerror(f, &code);
      if (code == Z_ERRNO) {
        return absl::ErrnoToStatus(errno, absl::StrCat("reading ", path));
      }
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt gzip stream: ", message));
    }
    if (got == 0) {
      // End of file, or a truncated gzip stream (Z_BUF_ERROR): either way
      // the caller sees a short read.
      int code = Z_OK;
      const char* message = gzerror(f, &code);
      if (code != Z_OK && code != Z_BUF_ERROR) {
        return absl::DataLossError(
            absl::StrCat(path, ": corrupt gzip stream: ", message));
      }
      break;
    }
    done += got;
  }
  return done;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     int64_t max_items) {
  errno = 0;
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    const int error = errno == 0 ? ENOMEM : errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return absl::ErrnoToStatus(error, absl::StrCat("opening ", path));
  }
  gzbuffer(file.get(), 1 << 20);

  uint8_t magic[4];
  absl::StatusOr<int64_t> got = ReadBytes(file.get(), path, magic, 4);
  if (!got.ok()) return got.status();
  if (*got < 4) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", *got, " bytes; an IDX file starts with a 4-byte magic"));
  }
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": bad IDX magic ", static_cast<int>(magic[0]), " ",
        static_cast<int>(magic[1]), " ", static_cast<int>(magic[2]), " ",
        static_cast<int>(magic[3]),
        " (want 0 0 <type> <dimensions>, dimensions >= 1)"));
  }
  if (magic[2] != kIdxUnsignedByte) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": IDX element type 0x", absl::Hex(magic[2]),
                     "; only unsigned bytes (0x08) are supported"));
  }
  const int ndims = magic[3];
  std::vector<uint8_t> header(4 * ndims);
  got = ReadBytes(file.get(), path, header.data(), header.size());
  if (!got.ok()) return got.status();
  if (*got < static_cast<int64_t>(header.size())) {
    return absl::DataLossError(absl::StrCat(path, ": truncated header (", ndims,
                                            " dimensions announced)"));
  }
  IdxArray array;
  int64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    int64_t d = BigEndian32(&header[4 * i]);
    if (i == 0 && max_items > 0 && d > max_items) d = max_items;
    array.dims.push_back(d);
    if (d != 0 && total > kMaxElements / d) {
      return absl::DataLossError(
          absl::StrCat(path, ": the header announces more than ", kMaxElements,
                       " elements"));
    }
    total *= d;
  }
  array.data.resize(total);
  got = ReadBytes(file.get(), path, array.data.data(), total);
  if (!got.ok()) return got.status();
  if (*got < total) {
    return absl::DataLossError(
        absl::StrCat(path, ": truncated: ", *got, " of ", total,
                     " data bytes the header announces"));
  }
  if (max_items <= 0) {
    uint8_t extra;
    got = ReadBytes(file.get(), path, &extra, 1);
    if (!got.ok()) return got.status();
    if (*got > 0) {
      return absl::DataLossError(absl::StrCat(path, ": bytes after the ", total,
                                              " the header announces"));
    }
  }
  return array;
}

absl::Status WriteIdxFile(const std::string& path, const IdxArray& array,
                          bool gzip) {
  if (array.dims.size() > 255 || array.dims.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an IDX file has 1 to 255 dimensions, not ", array.dims.size()));
  }
  std::string bytes = {0, 0, static_cast<char>(kIdxUnsignedByte),
                       static_cast<char>(array.dims.size())};
  int64_t total = 1;
  for (int64_t d : array.dims) {
    if (d < 0 || d > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("IDX dimension ", d, " is out of range"));
    }
    total *= d;
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<char>((d >> shift) & 0xff));
    }
  }
  if (total != static_cast<int64_t>(array.data.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the dimensions need ", total, " elements; data holds ",
                     array.data.size()));
  }
  bytes.append(reinterpret_cast<const char*>(array.data.data()),
               array.data.size());
  errno = 0;
  std::unique_ptr<gzFile_s, GzCloser> file(
      gzopen(path.c_str(), gzip ? "wb" : "wbT"));
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno == 0 ? ENOMEM : errno,
                               absl::StrCat("creating ", path));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const unsigned chunk = static_cast<unsigned>(
        std::min<size_t>(bytes.size() - done, size_t{1} << 30));
    const int wrote = gzwrite(file.get(), bytes.data() + done, chunk);
    if (wrote <= 0) {
      int code = Z_OK;
      const char* message = gzerror(file.get(), &code);
      return absl::InternalError(absl::StrCat("writing ", path, ": ", message));
    }
    done += wrote;
  }
  if (int rc = gzclose(file.release()); rc != Z_OK) {
    return absl::InternalError(
        absl::StrCat("closing ", path, ": zlib error ", rc));
  }
  return absl::OkStatus();
}

}  // namespace continuum::data
