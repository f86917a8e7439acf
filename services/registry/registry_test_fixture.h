// Test-only: a Registry over a real SQLite store and blob store in a fresh
// directory, with a fake clock, and the calls the registry's tests share.
// Header-only; included by the *_test.cc files of services/registry.
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_TEST_FIXTURE_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/core/clock.h"
#include "lib/store/blob_store.h"
#include "services/registry/registry.h"
#include "services/registry/sqlite_registry_store.h"
#include "tests/util/subprocess.h"

namespace continuum::registry {

class RegistryTest : public ::testing::Test {
 protected:
  using S = v1::VersionState;

  void SetUp() override {
    dir_ = testing::MakeTempDir("registry_test_");
    Open();
  }

  // Opens (again: a restart) the registry over dir_.
  void Open() {
    registry_.reset();
    auto store = SqliteRegistryStore::Open(dir_ + "/registry.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store::BlobStoreOptions blob_options;
    blob_options.dir = dir_ + "/blobs";
    auto blobs = store::BlobStore::Open(blob_options);
    ASSERT_TRUE(blobs.ok()) << blobs.status();
    RegistryOptions options;
    options.clock = &clock_;
    options.check_artifacts = check_artifacts_;
    options.max_artifact_bytes = max_artifact_bytes_;
    auto registry =
        Registry::Create(*std::move(store), *std::move(blobs), options);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  v1::Model Register(const std::string& id, v1::RolloutPlan plan = {}) {
    v1::RegisterModelRequest request;
    request.set_model_id(id);
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    *request.mutable_model()->mutable_rollout_plan() = plan;
    auto model = registry_->RegisterModel(caller_, request);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : v1::Model();
  }

  absl::StatusOr<v1::UploadVersionResponse> UploadBytes(
      const std::string& model, const std::string& bytes,
      std::string claimed = "") {
    v1::UploadVersionMetadata metadata;
    metadata.set_model(model);
    metadata.set_sha256(claimed.empty() ? store::Sha256Hex(bytes) : claimed);
    auto upload = registry_->BeginUpload(metadata);
    if (!upload.ok()) return upload.status();
    for (size_t i = 0; i < bytes.size(); i += 7) {
      if (absl::Status s = (*upload)->Append(bytes.substr(i, 7)); !s.ok())
        return s;
    }
    return registry_->FinishUpload(caller_, **upload);
  }

  static v1::ValidationReport GoodReport(double accuracy = 0.9) {
    v1::ValidationReport report;
    v1::Evaluation* e = report.add_evaluations();
    e->set_evaluation_set("held_out");
    e->mutable_candidate()->set_loss(0.3);
    e->mutable_candidate()->set_accuracy(accuracy);
    e->mutable_candidate()->set_sample_count(1000);
    e->mutable_baseline()->set_loss(0.3);
    e->mutable_baseline()->set_accuracy(0.9);
    e->mutable_baseline()->set_sample_count(1000);
    return report;
  }

  absl::StatusOr<v1::SubmitValidationResponse> Validate(
      const std::string& name, v1::ValidationReport report) {
    v1::SubmitValidationRequest request;
    request.set_name(name);
    *request.mutable_report() = report;
    return registry_->SubmitValidation(caller_, request);
  }

  S StateOf(const std::string& name) {
    auto v = registry_->GetVersion(name);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? v->state() : S::VERSION_STATE_UNSPECIFIED;
  }

  std::vector<v1::AuditEntry> Audit() {
    auto entries = registry_->AuditEntriesAfter(0, 100000);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<v1::AuditEntry>();
  }

  std::string dir_;
  core::FakeClock clock_;
  Caller caller_{"tester"};
  // The tests of metadata upload arbitrary bytes ("v1"); those of the
  // artifact checks turn them on (artifact_check_test.cc).
  bool check_artifacts_ = false;
  int64_t max_artifact_bytes_ = int64_t{2} << 30;
  std::unique_ptr<Registry> registry_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_TEST_FIXTURE_H_
