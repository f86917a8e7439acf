// Service binaries started as child processes on 127.0.0.1 port 0, wired to
// each other as deploy/local/continuum-up wires them, for the end-to-end
// tests: the trainer gets the registry's and the collector's addresses, the
// drift service the registry's and the trainer's (of those already
// started). Stubs for the four services that have them here.
#ifndef CONTINUUM_TESTS_UTIL_SERVICE_CLUSTER_H_
#define CONTINUUM_TESTS_UTIL_SERVICE_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "tests/util/subprocess.h"

namespace continuum::testing {

class ServiceCluster {
 public:
  // Binaries from `bin_dir`; data and logs in a new temporary directory
  // named after `prefix`.
  ServiceCluster(std::string bin_dir, const std::string& prefix);
  // Stops the services, the last started first, and removes the directory.
  ~ServiceCluster();
  ServiceCluster(const ServiceCluster&) = delete;
  ServiceCluster& operator=(const ServiceCluster&) = delete;

  // Starts `services` ("registry", "collector", "trainer", "drift") in this
  // order, each wired to those already running (see above), and waits for
  // their ports. The error names the service and holds its stderr.
  absl::Status Start(const std::vector<std::string>& services);

  // Kills a started service with SIGKILL and starts it again on the same
  // data directory (and wiring); its port may change (target() follows, as
  // do the stubs below).
  absl::Status KillAndRestart(const std::string& service);

  // "127.0.0.1:PORT" of a started service ("" if not started).
  std::string target(const std::string& service) const;
  const std::string& dir() const { return dir_; }

  // The end of every service's stderr, for failure messages.
  std::string Logs() const;

  // Calls the tests make often, with 10 s deadlines (30 s for Observe).
  //
  // Sends `batch` as one Observe stream: when it returns, the batch has
  // been processed and its alerts acted on. The response in *response.
  absl::StatusOr<v1::ObserveResponse> Observe(
      const v1::ObservationBatch& batch);
  absl::StatusOr<v1::GetDriftStatusResponse> DriftStatus(
      const std::string& model);
  // The model's alerts (newest first, up to 1000) matching `filter`.
  absl::StatusOr<std::vector<v1::Alert>> Alerts(const std::string& model,
                                                const std::string& filter);
  // What the drift service shows of `model` (its status and every alert),
  // for failure messages.
  std::string DriftDump(const std::string& model);
  // The model's production version in the registry.
  absl::StatusOr<int64_t> ProductionVersion(const std::string& model);

  v1::RegistryService::Stub& registry() { return *registry_; }
  v1::CollectorService::Stub& collector() { return *collector_; }
  v1::TrainerService::Stub& trainer() { return *trainer_; }
  v1::DriftService::Stub& drift() { return *drift_; }

 private:
  const std::string bin_dir_;
  const std::string dir_;
  absl::Status StartOne(const std::string& service);

  std::vector<std::string> order_;  // Started services, in order.
  std::map<std::string, int> starts_;  // Starts per service (log names).
  std::map<std::string, std::unique_ptr<Subprocess>> processes_;
  std::map<std::string, int> ports_;
  std::unique_ptr<v1::RegistryService::Stub> registry_;
  std::unique_ptr<v1::CollectorService::Stub> collector_;
  std::unique_ptr<v1::TrainerService::Stub> trainer_;
  std::unique_ptr<v1::DriftService::Stub> drift_;
};

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_SERVICE_CLUSTER_H_
