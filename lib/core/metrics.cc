#include "lib/core/metrics.h"

#include <dirent.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace continuum::core {
namespace {

prometheus::MetricFamily OneValueFamily(std::string name, std::string help,
                                        prometheus::MetricType type,
                                        double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

std::string MetricName(absl::string_view service, absl::string_view name) {
  return absl::StrCat("continuum_", service, "_", name);
}

absl::Status ValidateServiceName(absl::string_view service) {
  bool ok = !service.empty() && absl::ascii_islower(service.front());
  for (char c : service) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service name '", service, "' must match [a-z][a-z0-9_]*"));
  }
  return absl::OkStatus();
}

const std::vector<double>& RpcLatencyBuckets() {
  static const std::vector<double> kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return kBuckets;
}

ProcessCollector::ProcessCollector()
    : start_time_seconds_(
          std::chrono::duration<double>(
              std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));

  std::ifstream statm("/proc/self/statm");
  double virtual_pages = 0, resident_pages = 0;
  if (statm >> virtual_pages >> resident_pages) {
    families.push_back(OneValueFamily(
        "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        prometheus::MetricType::Gauge, virtual_pages * page_size));
    families.push_back(OneValueFamily(
        "process_resident_memory_bytes", "Resident memory size in bytes.",
        prometheus::MetricType::Gauge, resident_pages * page_size));
  }

  // /proc/self/stat: fields 14 and 15 are user and system time in ticks. The
  // command name (field 2) may hold spaces, so split after its ')'.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)),
                   std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ');
    // After ')' the first field is field 3 (state).
    if (fields.size() > 12) {
      double utime = std::strtod(std::string(fields[11]).c_str(), nullptr);
      double stime = std::strtod(std::string(fields[12]).c_str(), nullptr);
      families.push_back(OneValueFamily(
          "process_cpu_seconds_total", "User and system CPU time in seconds.",
          prometheus::MetricType::Counter, (utime + stime) / ticks));
    }
  }

  if (DIR* dir = opendir("/proc/self/fd")) {
    int count = 0;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    // Less the descriptor opendir itself holds.
    families.push_back(OneValueFamily(
        "process_open_fds", "Open file descriptors.",
        prometheus::MetricType::Gauge, static_cast<double>(count - 1)));
  }

  families.push_back(OneValueFamily(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.",
      prometheus::MetricType::Gauge, start_time_seconds_));
  return families;
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two civetweb threads: one scrape at a time is the norm; a second keeps
    // a slow scraper from blocking the next.
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics server on ", address, " bound no port"));
  }
  for (const auto& collectable : collectables) {
    exposer->RegisterCollectable(collectable);
  }
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(
      std::move(exposer), std::move(collectables), ports[0]));
}

}  // namespace continuum::core
