// The drift service acting on a real registry process: a production
// version whose error rate crosses the monitor's bound raises a CRITICAL
// performance alert, and the default policy rolls production back to the
// previous version, which did better on its recent outcomes, through the
// registry; a second alert within the cool-down is only recorded.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/store/blob_store.h"
#include "services/drift/drift_actions.h"
#include "services/drift/drift_monitor.h"
#include "tests/util/registry_upload.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;

grpc::Status UploadValidated(v1::RegistryService::Stub& stub,
                             const std::string& bytes) {
  absl::StatusOr<v1::Version> v =
      testing::UploadValidatedVersion(stub, "fraud", bytes);
  return v.ok() ? grpc::Status::OK
                : grpc::Status(grpc::StatusCode::UNKNOWN,
                               std::string(v.status().message()));
}

int64_t ProductionVersion(v1::RegistryService::Stub& stub) {
  grpc::ClientContext context;
  v1::GetModelRequest request;
  request.set_name("models/fraud");
  v1::GetModelResponse response;
  if (!stub.GetModel(&context, request, &response).ok()) return -1;
  return response.model().production_version();
}

// `n` outcomes of version `version`, all wrong (or all right).
v1::ObservationBatch Errors(int64_t version, int n, bool correct = false) {
  v1::ObservationBatch batch;
  batch.set_model("fraud");
  batch.set_version(version);
  batch.set_kind(v1::OBSERVATION_KIND_OUTCOME);
  batch.set_num_rows(n);
  for (int r = 0; r < n; ++r) {
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(r);
    o->set_correct(correct);
  }
  return batch;
}

TEST(DriftRollbackTest, APerformanceAlertOnProductionRollsItBack) {
  std::string dir = testing::MakeTempDir("drift_rollback_");
  auto registry =
      Subprocess::Start({absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-registry"),
                         "--data_dir=" + dir + "/data",
                         "--port_file=" + dir + "/port", "--metrics_listen="},
                        dir, "registry");
  ASSERT_TRUE(registry.ok());
  const int port = testing::WaitForPortFile(dir + "/port", **registry);
  ASSERT_GT(port, 0) << (*registry)->ReadStderr();
  const std::string target = absl::StrCat("127.0.0.1:", port);
  auto stub = v1::RegistryService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    v1::RegisterModelRequest request;
    request.set_model_id("fraud");
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
    v1::RegisterModelResponse response;
    ASSERT_TRUE(stub->RegisterModel(&context, request, &response).ok());
  }
  ASSERT_TRUE(UploadValidated(*stub, "version one").ok());
  ASSERT_TRUE(UploadValidated(*stub, "version two").ok());
  ASSERT_EQ(ProductionVersion(*stub), 2);

  drift_service::GrpcActionTarget actions(target, /*trainer_address=*/"");
  drift_service::DriftMonitorOptions options;
  options.actions = &actions;
  drift_service::DriftMonitor monitor(options);
  v1::ConfigureMonitorRequest configure;
  configure.mutable_monitor()->set_name("models/fraud/monitor");
  v1::PerformanceThresholds* performance =
      configure.mutable_monitor()->mutable_performance();
  performance->set_max_error_rate(0.2);
  performance->set_window_size(100);
  performance->set_min_outcomes(50);
  ASSERT_TRUE(monitor.ConfigureMonitor(configure).ok());

  // Version 1 did well on its outcomes; version 2 gets every one wrong.
  auto observed = monitor.Observe(Errors(1, 100, /*correct=*/true));
  ASSERT_TRUE(observed.ok()) << observed.status();
  observed = monitor.Observe(Errors(2, 100));
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(ProductionVersion(*stub), 1);

  v1::ListAlertsRequest list;
  list.set_parent("models/fraud");
  list.set_filter("type = ALERT_TYPE_PERFORMANCE");
  auto alerts = monitor.ListAlerts(list);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->alerts_size(), 1);
  const v1::ActionResult& result = alerts->alerts(0).action_result();
  EXPECT_EQ(result.action(), v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_TRUE(result.succeeded()) << result.message();
  // The deployment the rollback made.
  EXPECT_TRUE(absl::StartsWith(result.target(), "models/fraud/deployment@"))
      << result.target();

  // The restored version goes bad too: within the cool-down, no action.
  observed = monitor.Observe(Errors(1, 100));
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(ProductionVersion(*stub), 1);
  alerts = monitor.ListAlerts(list);
  ASSERT_EQ(alerts->alerts_size(), 2);
  EXPECT_TRUE(alerts->alerts(0).action_result().suppressed_by_cooldown())
      << alerts->alerts(0).DebugString();

  // The registry's audit log names the drift service as the actor.
  grpc::ClientContext context;
  auto reader = stub->ExportAudit(&context, v1::ExportAuditRequest());
  v1::ExportAuditResponse entry;
  bool rollback_by_drift = false;
  while (reader->Read(&entry)) {
    rollback_by_drift |= entry.entry().action() == "model.rollback" &&
                         entry.entry().actor() == "drift";
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(rollback_by_drift);
  ASSERT_TRUE((*registry)->Signal(SIGTERM).ok());
  ASSERT_TRUE((*registry)->Wait(absl::Seconds(30)).ok());
}

}  // namespace
}  // namespace continuum
