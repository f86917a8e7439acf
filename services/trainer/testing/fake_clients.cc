#include "services/trainer/testing/fake_clients.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/store/blob_store.h"
#include "services/trainer/training_config.h"

namespace continuum::trainer {

void FakeRegistry::AddModel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  models_.insert(id);
}

absl::StatusOr<v1::Model> FakeRegistry::GetModel(const std::string& model) {
  absl::MutexLock lock(&mu_);
  if (models_.count(model) == 0) {
    return absl::NotFoundError(absl::StrCat("model ", model, " not found"));
  }
  v1::Model m;
  m.set_name("models/" + model);
  m.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  m.mutable_spec()->add_hidden_sizes(16);  // Dimensions from the data set.
  m.set_production_version(production_.empty() ? 0 : 1);
  return m;
}

absl::StatusOr<Artifact> FakeRegistry::DownloadArtifact(
    const std::string& model, int64_t version, absl::Time) {
  absl::MutexLock lock(&mu_);
  ++downloads_;
  if (corrupt_) {
    return absl::DataLossError("artifact does not match the checksum");
  }
  Artifact a;
  a.version.set_model(model);
  a.version.set_version(version);
  a.bytes = production_;
  a.sha256 = store::Sha256Hex(production_);
  return a;
}

absl::StatusOr<v1::UploadVersionResponse> FakeRegistry::UploadVersion(
    const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
    absl::Time) {
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(metadata.sha256(), store::Sha256Hex(bytes));
  uploads_.push_back(metadata);
  uploaded_bytes_ = std::string(bytes);
  v1::UploadVersionResponse r;
  r.set_created(true);
  r.mutable_version()->set_version(static_cast<int64_t>(uploads_.size()) + 1);
  r.mutable_decision()->set_approved(!reject_);
  r.mutable_decision()->set_summary(reject_ ? "rejected: 1 of 9 gates failed"
                                            : "approved");
  return r;
}

void FakeRegistry::set_production(std::string bytes) {
  absl::MutexLock lock(&mu_);
  production_ = std::move(bytes);
}

void FakeRegistry::set_corrupt(bool corrupt) {
  absl::MutexLock lock(&mu_);
  corrupt_ = corrupt;
}

void FakeRegistry::set_reject(bool reject) {
  absl::MutexLock lock(&mu_);
  reject_ = reject;
}

std::vector<v1::UploadVersionMetadata> FakeRegistry::uploads() {
  absl::MutexLock lock(&mu_);
  return uploads_;
}

std::string FakeRegistry::uploaded_bytes() {
  absl::MutexLock lock(&mu_);
  return uploaded_bytes_;
}

int FakeRegistry::downloads() {
  absl::MutexLock lock(&mu_);
  return downloads_;
}

absl::Status FakeRegistry::RecordAuditEvent(
    const v1::RecordAuditEventRequest& event, absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  audit_events_.push_back(event);
  return absl::OkStatus();
}

std::vector<v1::RecordAuditEventRequest> FakeRegistry::audit_events() {
  absl::MutexLock lock(&mu_);
  return audit_events_;
}

FakeCollector::FakeCollector(int rows) {
  std::mt19937 gen(7);
  std::normal_distribution<float> noise(0, 0.5f);
  absl::MutexLock lock(&mu_);
  for (int r = 0; r < rows; ++r) {
    const int c = r % kClasses;
    for (int f = 0; f < kFeatures; ++f) {
      features_.push_back((f % kClasses == c ? 2.0f : 0.0f) + noise(gen));
    }
    labels_.push_back(c);
  }
}

absl::StatusOr<v1::Dataset> FakeCollector::GetDataset(
    const std::string& dataset) {
  v1::Dataset d;
  d.set_name("datasets/" + dataset);
  d.mutable_schema()->set_feature_dim(kFeatures);
  d.mutable_schema()->set_label_kind(v1::LABEL_KIND_CLASS);
  d.mutable_schema()->set_num_classes(kClasses);
  return d;
}

absl::StatusOr<v1::DatasetStats> FakeCollector::GetDatasetStats(
    const std::string&, const v1::TimeWindow& window) {
  absl::MutexLock lock(&mu_);
  windows_.push_back(window);
  v1::DatasetStats stats;
  stats.set_record_count(records_);
  return stats;
}

absl::Status FakeCollector::Scan(const v1::ScanRequest& request,
                                 const BatchFn& on_batch, absl::Time) {
  const absl::Time start = request.window().has_start_time()
                               ? core::FromProto(request.window().start_time())
                               : absl::InfinitePast();
  const absl::Time end = request.window().has_end_time()
                             ? core::FromProto(request.window().end_time())
                             : absl::InfiniteFuture();
  std::vector<int> rows;
  {
    absl::MutexLock lock(&mu_);
    ++scans_;
    for (int r = 0; r < static_cast<int>(labels_.size()); ++r) {
      const absl::Time t = kStart + absl::Seconds(r);
      if (t >= start && t < end) rows.push_back(r);
    }
  }
  return Send(rows, request.batch_size(), on_batch);
}

absl::Status FakeCollector::SampleReplay(const v1::SampleReplayRequest& request,
                                         const BatchFn& on_batch, absl::Time) {
  std::vector<int> rows;
  {
    absl::MutexLock lock(&mu_);
    const int n = static_cast<int>(labels_.size());
    for (int r = 0; r < std::min<int>(request.count(), n); ++r) {
      rows.push_back(n - 1 - r);
    }
    replay_requested_ = request.count();
  }
  return Send(rows, request.batch_size(), on_batch);
}

absl::Status FakeCollector::Send(const std::vector<int>& rows, int batch_size,
                                 const BatchFn& on_batch) {
  if (batch_size <= 0) batch_size = 1024;
  for (size_t at = 0; at < rows.size(); at += batch_size) {
    v1::RecordBatch b;
    b.set_feature_dim(kFeatures);
    b.set_label_kind(v1::LABEL_KIND_CLASS);
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = at; i < std::min(rows.size(), at + batch_size); ++i) {
        const int r = rows[i];
        b.set_num_rows(b.num_rows() + 1);
        for (int f = 0; f < kFeatures; ++f) {
          b.add_features(features_[r * kFeatures + f]);
        }
        b.add_ids("r" + std::to_string(r));
        b.add_event_time_unix_micros(
            absl::ToUnixMicros(kStart + absl::Seconds(r)));
        b.add_labeled(true);
        b.add_class_indices(labels_[r]);
      }
    }
    if (!on_batch(b)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

void FakeCollector::set_nan_rows(int begin, int end) {
  absl::MutexLock lock(&mu_);
  for (int r = begin; r < end; ++r) features_[r * kFeatures] = NAN;
}

void FakeCollector::set_records(int64_t n) {
  absl::MutexLock lock(&mu_);
  records_ = n;
}

int FakeCollector::scans() {
  absl::MutexLock lock(&mu_);
  return scans_;
}

int64_t FakeCollector::replay_requested() {
  absl::MutexLock lock(&mu_);
  return replay_requested_;
}

std::vector<v1::TimeWindow> FakeCollector::windows() {
  absl::MutexLock lock(&mu_);
  return windows_;
}

TrainingExecutorOptions TestExecutorOptions(FakeRegistry* registry,
                                            FakeCollector* collector) {
  TrainingExecutorOptions options;
  options.registry = registry;
  options.collector = collector;
  options.code_version = "test-1.0";
  options.scan_batch_rows = 100;
  return options;
}

v1::Run FakeCollectorRun(v1::TrainingConfig config) {
  config.set_seed(11);
  if (config.epochs() == 0) config.set_epochs(3);
  if (!config.optimizer().learning_rate()) {
    config.mutable_optimizer()->set_learning_rate(0.01);
  }
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig("m", config);
  EXPECT_TRUE(effective.ok()) << effective.status();
  v1::Run run;
  run.set_name("models/m/runs/1");
  run.set_model("m");
  run.set_state(v1::RUN_STATE_RUNNING);
  run.set_trigger(v1::RUN_TRIGGER_MANUAL);
  run.set_strategy(effective->strategy());
  *run.mutable_config() = *effective;
  *run.mutable_data_window()->mutable_start_time() =
      core::ToProto(FakeCollector::kStart);
  *run.mutable_data_window()->mutable_end_time() =
      core::ToProto(FakeCollector::kStart + absl::Seconds(500));
  return run;
}

}  // namespace continuum::trainer
