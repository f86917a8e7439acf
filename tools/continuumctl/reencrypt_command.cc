#include "tools/continuumctl/reencrypt_command.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "lib/store/blob_store.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_files.h"
#include "lib/store/segment_reencrypt.h"
#include "tools/continuumctl/cli_util.h"

ABSL_FLAG(std::string, data_dir, "",
          "reencrypt: a service's data directory (server.data_dir), or a "
          "directory above several.");
ABSL_FLAG(std::string, key_file, "",
          "reencrypt: the key file (`KEY_ID HEX` lines) holding the active "
          "key and every key the data still uses.");
ABSL_FLAG(std::string, key_env, "",
          "reencrypt: name of an environment variable holding the keys, "
          "instead of --key_file.");
ABSL_FLAG(std::string, active_key, "",
          "reencrypt: id of the key to move the data to.");

namespace continuum::ctl {
namespace {

namespace fs = std::filesystem;

bool IsSegmentLogDir(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir / store::kSegmentLogLockFileName, error)) return false;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, error)) {
    int64_t day = 0;
    if (e.is_directory() &&
        store::ParseDayDirName(e.path().filename().string(), &day)) {
      return true;
    }
  }
  return false;
}

bool IsBlobStoreDir(const fs::path& dir) {
  std::error_code error;
  return fs::exists(dir / "LOCK", error) &&
         fs::is_directory(dir / "sha256", error);
}

}  // namespace

absl::StatusOr<ReencryptSummary> ReencryptDataDir(
    const std::string& data_dir, std::shared_ptr<const store::KeyRing> keys) {
  std::error_code error;
  if (!fs::is_directory(data_dir, error)) {
    return absl::NotFoundError(
        absl::StrCat("--data_dir=", data_dir, ": not a directory"));
  }
  std::vector<fs::path> segment_logs;
  std::vector<fs::path> blob_stores;
  if (IsBlobStoreDir(data_dir)) blob_stores.push_back(data_dir);
  if (IsSegmentLogDir(data_dir)) segment_logs.push_back(data_dir);
  for (auto it = fs::recursive_directory_iterator(data_dir, error);
       !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    if (!it->is_directory()) continue;
    if (IsBlobStoreDir(it->path())) {
      blob_stores.push_back(it->path());
      it.disable_recursion_pending();
    } else if (IsSegmentLogDir(it->path())) {
      segment_logs.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("listing ", data_dir, ": ", error.message()));
  }
  std::sort(segment_logs.begin(), segment_logs.end());
  std::sort(blob_stores.begin(), blob_stores.end());

  ReencryptSummary summary;
  for (const fs::path& dir : segment_logs) {
    absl::StatusOr<store::SegmentReencryptResult> r =
        store::ReencryptSegmentLog(store::DefaultFileSystem(), dir.string(),
                                   *keys);
    if (!r.ok()) return r.status();
    ++summary.segment_logs;
    summary.segments_rewritten += r->rewritten_segments;
    summary.records_rekeyed += r->rekeyed_records;
    summary.plaintext_records += r->plaintext_records;
  }
  for (const fs::path& dir : blob_stores) {
    store::BlobStoreOptions options;
    options.dir = dir.string();
    options.keys = keys;
    absl::StatusOr<std::unique_ptr<store::BlobStore>> blobs =
        store::BlobStore::Open(options);
    if (!blobs.ok()) {
      return absl::Status(
          blobs.status().code(),
          absl::StrCat("blob store ", dir.string(),
                       " is open in a running process (stop it first): ",
                       blobs.status().message()));
    }
    absl::StatusOr<store::BlobStore::ReencryptResult> r =
        (*blobs)->Reencrypt();
    if (!r.ok()) return r.status();
    ++summary.blob_stores;
    summary.blobs += r->blobs;
    summary.blobs_encrypted += r->encrypted;
    summary.blobs_rekeyed += r->rekeyed;
  }
  return summary;
}

int RunReencryptCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: continuumctl reencrypt --data_dir=DIR (--key_file=F | "
      "--key_env=VAR) --active_key=ID  (with the services stopped)";
  if (!args.empty() || absl::GetFlag(FLAGS_data_dir).empty() ||
      absl::GetFlag(FLAGS_active_key).empty() ||
      (absl::GetFlag(FLAGS_key_file).empty() &&
       absl::GetFlag(FLAGS_key_env).empty())) {
    return Fail("reencrypt", absl::InvalidArgumentError(usage));
  }
  absl::StatusOr<std::shared_ptr<const store::KeyRing>> keys =
      store::KeyRing::Load(absl::GetFlag(FLAGS_key_file),
                           absl::GetFlag(FLAGS_key_env),
                           absl::GetFlag(FLAGS_active_key));
  if (!keys.ok()) return Fail("reencrypt", keys.status());
  absl::StatusOr<ReencryptSummary> s =
      ReencryptDataDir(absl::GetFlag(FLAGS_data_dir), *keys);
  if (!s.ok()) return Fail("reencrypt", s.status());
  std::cout << "segment logs " << s->segment_logs << ": "
            << s->records_rekeyed << " records moved to key "
            << (*keys)->active_key_id() << " in " << s->segments_rewritten
            << " segments; " << s->plaintext_records
            << " records written before encryption left in plaintext\n"
            << "blob stores " << s->blob_stores << ": " << s->blobs
            << " blobs, " << s->blobs_encrypted << " encrypted, "
            << s->blobs_rekeyed << " moved to key "
            << (*keys)->active_key_id() << "\n";
  return 0;
}

}  // namespace continuum::ctl
