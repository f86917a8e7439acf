// The collector's segment log recovery and scan (lib/store/segment_log.h)
// on arbitrary bytes as a segment file: Open recovers (cutting a torn tail,
// skipping corrupt frames), a scan reads every valid record, ReadAt of each
// position it reported returns the same payload. The log has encryption
// keys, so sealed frames (encryption.h) are opened too: a sealed payload
// that fails authentication is skipped, never returned.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/store/encryption.h"
#include "lib/store/log_position.h"
#include "lib/store/segment_files.h"
#include "lib/store/segment_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const std::string root =
      absl::StrCat(fs::temp_directory_path().string(), "/segment_log_fuzzer.",
                   getpid());
  fs::remove_all(root);
  const int64_t day = 20454;  // 2026-01-02
  const std::string dir =
      absl::StrCat(root, "/", continuum::store::DayDirName(day));
  fs::create_directories(dir);
  {
    std::ofstream out(absl::StrCat(
        dir, "/", continuum::store::SegmentFileName(day * 100000, "log")));
    out.write(reinterpret_cast<const char*>(data),
              static_cast<std::streamsize>(size));
  }
  static const std::shared_ptr<const continuum::store::KeyRing> keys =
      *continuum::store::KeyRing::Parse(
          "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
          "k1", "fuzz keys");
  continuum::store::SegmentLogOptions options;
  options.dir = root;
  options.keys = keys;
  continuum::store::RecoveryReport report;
  auto log = continuum::store::SegmentLog::Open(options, &report);
  if (!log.ok()) return 0;
  std::vector<std::pair<continuum::store::LogPosition, std::string>> seen;
  (void)(*log)->Scan(0, 0, nullptr,
                     [&](const continuum::store::LogPosition& pos, int64_t,
                         absl::string_view payload) {
                       seen.emplace_back(pos, std::string(payload));
                       return true;
                     },
                     nullptr);
  for (const auto& [pos, payload] : seen) {
    std::string again;
    if (!(*log)->ReadAt(pos, &again, nullptr).ok() || again != payload) {
      __builtin_trap();  // A record the scan returned cannot be read back.
    }
  }
  log->reset();
  return 0;
}
