// `continuumctl reencrypt`: moves data at rest to the active encryption key
// (the second half of a key rotation; docs/operations.md, "Encryption at
// rest"). Works on the files of stopped services, not through an RPC.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_REENCRYPT_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_REENCRYPT_COMMAND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/store/encryption.h"

namespace continuum::ctl {

// What a pass over a data directory did.
struct ReencryptSummary {
  int64_t segment_logs = 0;
  int64_t segments_rewritten = 0;
  int64_t records_rekeyed = 0;
  int64_t plaintext_records = 0;  // Left as they are (see segment_reencrypt.h).
  int64_t blob_stores = 0;
  int64_t blobs = 0;
  int64_t blobs_encrypted = 0;  // Plaintext blobs now encrypted.
  int64_t blobs_rekeyed = 0;
};

// Finds every segment log (a directory with a LOCK file and day
// directories: the collector's data sets' records and outcomes) and every
// blob store (a directory with a LOCK file and sha256/: the registry's
// blobs, the inference pod's cache) under `data_dir` and moves their data
// to the ring's active key. Each store's LOCK is taken first, so a running
// service makes it FAILED_PRECONDITION ("stop it first"); the first error
// stops the pass (what was done before it stays done; running it again
// goes on). NOT_FOUND if `data_dir` does not exist.
absl::StatusOr<ReencryptSummary> ReencryptDataDir(
    const std::string& data_dir, std::shared_ptr<const store::KeyRing> keys);

// Runs the command with the parsed flags; returns the exit code (0 done,
// 1 failed, 2 usage).
int RunReencryptCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_REENCRYPT_COMMAND_H_
