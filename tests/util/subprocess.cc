#include "tests/util/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace continuum::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, const std::string& output_dir,
    const std::string& name) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::string out = absl::StrCat(output_dir, "/", name, ".stdout");
  std::string err = absl::StrCat(output_dir, "/", name, ".stderr");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child starts with no signals blocked, whatever the test blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // ... and with default dispositions for the signals tests send.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc =
      posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid, out, err));
}

Subprocess::~Subprocess() {
  if (!Exited()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

absl::Status Subprocess::Signal(int signal) {
  if (wait_status_.has_value()) {
    return absl::FailedPreconditionError("process already exited");
  }
  if (::kill(pid_, signal) != 0) {
    return absl::InternalError(absl::StrCat("kill: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

bool Subprocess::Exited() {
  if (wait_status_.has_value()) return true;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    wait_status_ = status;
    return true;
  }
  return false;
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (WaitFor([this] { return Exited(); }, timeout)) return *wait_status_;
  return absl::DeadlineExceededError(
      absl::StrCat("process ", pid_, " still running after ",
                   absl::FormatDuration(timeout)));
}

std::string Subprocess::ReadStdout() const {
  return ReadFile(stdout_path_).value_or("");
}

std::string Subprocess::ReadStderr() const {
  return ReadFile(stderr_path_).value_or("");
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& dir, const std::string& name,
                         absl::Duration timeout) {
  CommandResult result;
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(argv, dir, name);
  if (!process.ok()) {
    result.err = std::string(process.status().message());
    return result;
  }
  absl::StatusOr<int> status = (*process)->Wait(timeout);
  result.out = (*process)->ReadStdout();
  result.err = (*process)->ReadStderr();
  if (status.ok() && WIFEXITED(*status))
    result.exit_code = WEXITSTATUS(*status);
  return result;
}

int WaitForPortFile(const std::string& port_file, Subprocess& process,
                    absl::Duration timeout) {
  int port = 0;
  bool found = WaitFor(
      [&] {
        if (process.Exited()) return true;
        std::string text = ReadFile(port_file).value_or("");
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) &&
               port > 0;
      },
      timeout);
  return found && !process.Exited() ? port : 0;
}

absl::StatusOr<std::unique_ptr<Subprocess>> StartService(
    const std::string& bin_dir, const std::string& service,
    const std::string& dir, const std::vector<std::string>& extra, int* port,
    const std::string& log_name) {
  const std::string port_file = absl::StrCat(dir, "/", service, ".port");
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {
      absl::StrCat(bin_dir, "/continuum-", service),
      absl::StrCat("--data_dir=", dir, "/", service),
      "--port_file=" + port_file,
      "--listen=127.0.0.1:0",
      "--metrics_listen=",
      "--shutdown_grace=1s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(argv, dir, log_name.empty() ? service : log_name);
  if (!process.ok()) return process.status();
  *port = WaitForPortFile(port_file, **process);
  if (*port <= 0) {
    return absl::InternalError(absl::StrCat(service, " did not start: ",
                                            (*process)->ReadStderr()));
  }
  return process;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    // A poll interval, not synchronisation: the condition decides.
    absl::SleepFor(std::min(pause, deadline - absl::Now()));
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                    const std::string& path,
                                    absl::Duration timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", host));
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect to ", host, ":", port, ": ", std::strerror(err)));
  }
  std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host, "\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string response;
  char buffer[16384];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return absl::DeadlineExceededError("reading the HTTP response timed out");
    }
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::InternalError("malformed HTTP response");
  }
  absl::string_view status_line =
      absl::string_view(response).substr(0, response.find("\r\n"));
  if (!absl::StrContains(status_line, " 200 ")) {
    return absl::InternalError(absl::StrCat("HTTP ", status_line));
  }
  return response.substr(header_end + 4);
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<double> FindSample(const std::string& exposition,
                                 const std::string& metric,
                                 const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    if (!absl::StartsWith(line, metric)) continue;
    absl::string_view rest = line.substr(metric.size());
    if (rest.empty() || (rest.front() != '{' && rest.front() != ' ')) continue;
    // Each wanted label must start a label of the sample (after '{' or
    // ','): `version="` must not match inside `grpc_version="`.
    bool all = true;
    for (const std::string& label : labels) {
      bool found = false;
      for (size_t at = rest.find(label); at != absl::string_view::npos;
           at = rest.find(label, at + 1)) {
        if (at > 0 && (rest[at - 1] == '{' || rest[at - 1] == ',')) {
          found = true;
          break;
        }
      }
      all = all && found;
    }
    if (!all) continue;
    size_t space = line.rfind(' ');
    return std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return std::nullopt;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = absl::StrCat(base ? base : "/tmp", "/", prefix, "XXXXXX");
  std::vector<char> buffer(templ.begin(), templ.end());
  buffer.push_back('\0');
  char* dir = ::mkdtemp(buffer.data());
  return dir ? std::string(dir) : std::string();
}

}  // namespace continuum::testing
