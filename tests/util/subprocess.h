// Test helpers for end-to-end and integration tests: real child processes,
// plain HTTP GETs, and waiting on conditions with deadlines (never sleeps as
// synchronisation).
#ifndef CONTINUUM_TESTS_UTIL_SUBPROCESS_H_
#define CONTINUUM_TESTS_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace continuum::testing {

// A child process started with posix_spawn. Its stdout and stderr go to
// files (stdout_path(), stderr_path()) so tests can read what it printed.
// The destructor kills the process (SIGKILL) if it is still running.
class Subprocess {
 public:
  // Starts `argv[0]` with the arguments `argv[1..]`; output files are created
  // in `output_dir` named after `name`.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::string& output_dir,
      const std::string& name);

  ~Subprocess();

  pid_t pid() const { return pid_; }
  const std::string& stdout_path() const { return stdout_path_; }
  const std::string& stderr_path() const { return stderr_path_; }

  // Sends `signal` to the process.
  absl::Status Signal(int signal);

  // Waits up to `timeout` for the process to exit and returns its wait
  // status (use WIFEXITED/WEXITSTATUS); DEADLINE_EXCEEDED if it still runs.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Whether the process has exited (reaps it if so).
  bool Exited();

  // Everything the process has written to stdout / stderr so far.
  std::string ReadStdout() const;
  std::string ReadStderr() const;

 private:
  Subprocess(pid_t pid, std::string out, std::string err)
      : pid_(pid), stdout_path_(std::move(out)), stderr_path_(std::move(err)) {}

  pid_t pid_;
  std::optional<int> wait_status_;
  std::string stdout_path_;
  std::string stderr_path_;
};

// What a finished command printed and how it exited.
struct CommandResult {
  // The exit code, or -1 if it did not exit normally within the timeout.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `argv` to completion (killed after `timeout`), its output captured in
// files named after `name` in `dir`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& dir, const std::string& name,
                         absl::Duration timeout = absl::Seconds(60));

// Waits until `port_file` holds a port number (returned) or `process`
// exits or `timeout` passes (0 returned).
int WaitForPortFile(const std::string& port_file, Subprocess& process,
                    absl::Duration timeout = absl::Seconds(60));

// Starts `bin_dir`/continuum-`service` as a child process: data in
// `dir`/`service`, listening on 127.0.0.1 port 0 with its port written to
// `dir`/`service`.port (removed first), no metrics listener, a 1 s shutdown
// grace, then the `extra` flags (e.g. --config_text=...). Its output goes to
// files named after `log_name` (default `service`) in `dir`. Waits for the
// port (*port); INTERNAL with the process's stderr if it exits first.
absl::StatusOr<std::unique_ptr<Subprocess>> StartService(
    const std::string& bin_dir, const std::string& service,
    const std::string& dir, const std::vector<std::string>& extra, int* port,
    const std::string& log_name = "");

// Calls `condition` until it returns true or `timeout` passes, backing off
// from 1 ms to 50 ms between calls. Returns whether the condition held.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// GET http://host:port/path over a plain TCP socket (HTTP/1.0). Returns the
// body of a 200 response; UNAVAILABLE if the connection fails, INTERNAL for
// any other status line.
absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                    const std::string& path,
                                    absl::Duration timeout = absl::Seconds(10));

// Writes `contents` to `path`, replacing it.
absl::Status WriteFile(const std::string& path, const std::string& contents);

// Reads a whole file; NOT_FOUND if missing.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Returns the value of the sample of `metric` whose labels contain every
// `label="value"` pair in `labels` (e.g. {"method=\"/a/B\"", "code=\"OK\""}),
// from Prometheus text exposition `exposition`; nullopt if there is none.
std::optional<double> FindSample(const std::string& exposition,
                                 const std::string& metric,
                                 const std::vector<std::string>& labels = {});

// A fresh empty directory under $TEST_TMPDIR or /tmp, removed by the caller.
std::string MakeTempDir(const std::string& prefix);

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_SUBPROCESS_H_
