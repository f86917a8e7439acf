// In-process fakes of the registry and the collector (clients.h) for the
// trainer's tests: the scheduler's (which models exist, new-record counts)
// and the executor's (artifacts, uploads and decisions; rows to train on).
// Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_CLIENTS_H_
#define CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_CLIENTS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"
#include "services/trainer/clients.h"
#include "services/trainer/run_context.h"

namespace continuum::trainer {

// A registry of models added with AddModel. Each is an MLP classifier
// whose spec has one hidden layer of 16 and leaves its dimensions to the
// data set; its production version is 1 once set_production gave it bytes,
// else none (a cold start). Uploads are recorded and answered with version
// (uploads so far + 1) and an approval (or a rejection after
// set_reject(true)).
class FakeRegistry : public RegistryClient {
 public:
  // Registers model `id`; GetModel of any other id is NOT_FOUND.
  void AddModel(const std::string& id);

  absl::StatusOr<v1::Model> GetModel(const std::string& model) override;
  absl::StatusOr<Artifact> DownloadArtifact(const std::string& model,
                                            int64_t version,
                                            absl::Time deadline) override;
  absl::StatusOr<v1::UploadVersionResponse> UploadVersion(
      const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
      absl::Time deadline) override;
  // Recorded; see audit_events().
  absl::Status RecordAuditEvent(const v1::RecordAuditEventRequest& event,
                                absl::Time deadline) override;

  // The production version's bytes (version 1); empty: none.
  void set_production(std::string bytes);
  // Downloads fail with DATA_LOSS.
  void set_corrupt(bool corrupt);
  // Uploads are rejected by the gates.
  void set_reject(bool reject);

  std::vector<v1::UploadVersionMetadata> uploads();
  std::string uploaded_bytes();  // of the latest upload
  int downloads();
  std::vector<v1::RecordAuditEventRequest> audit_events();

 private:
  absl::Mutex mu_;
  std::set<std::string> models_ ABSL_GUARDED_BY(mu_);
  std::string production_ ABSL_GUARDED_BY(mu_);
  bool corrupt_ ABSL_GUARDED_BY(mu_) = false;
  bool reject_ ABSL_GUARDED_BY(mu_) = false;
  int downloads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::UploadVersionMetadata> uploads_ ABSL_GUARDED_BY(mu_);
  std::string uploaded_bytes_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RecordAuditEventRequest> audit_events_ ABSL_GUARDED_BY(mu_);
};

// A collector of one data set of `rows` rows: three Gaussian blobs, one per
// class (row r has class r % 3), kFeatures features, event times one second
// apart from kStart (row r at kStart + r seconds), ids "r<row>". Scan
// serves the rows of the requested window; SampleReplay the newest
// `count` rows; GetDatasetStats records its calls and answers
// set_records' count.
class FakeCollector : public CollectorClient {
 public:
  static constexpr int kFeatures = 8;
  static constexpr int kClasses = 3;
  static constexpr absl::Time kStart = absl::FromUnixSeconds(1'780'000'000);

  explicit FakeCollector(int rows = 0);

  absl::StatusOr<v1::Dataset> GetDataset(const std::string& dataset) override;
  absl::StatusOr<v1::DatasetStats> GetDatasetStats(
      const std::string& dataset, const v1::TimeWindow& window) override;
  absl::Status Scan(const v1::ScanRequest& request, const BatchFn& on_batch,
                    absl::Time deadline) override;
  absl::Status SampleReplay(const v1::SampleReplayRequest& request,
                            const BatchFn& on_batch,
                            absl::Time deadline) override;

  // Rows [begin, end) get a NaN feature.
  void set_nan_rows(int begin, int end);
  // What GetDatasetStats counts.
  void set_records(int64_t n);

  int scans();
  int64_t replay_requested();
  std::vector<v1::TimeWindow> windows();  // of GetDatasetStats

 private:
  // Sends rows `rows` in batches of `batch_size` until on_batch says stop.
  absl::Status Send(const std::vector<int>& rows, int batch_size,
                    const BatchFn& on_batch);

  absl::Mutex mu_;
  std::vector<float> features_ ABSL_GUARDED_BY(mu_);
  std::vector<int> labels_ ABSL_GUARDED_BY(mu_);
  int scans_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t replay_requested_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t records_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::TimeWindow> windows_ ABSL_GUARDED_BY(mu_);
};

// Executor options over `registry` and `collector`: code version
// "test-1.0", 100 rows per scan batch, the real clock.
TrainingExecutorOptions TestExecutorOptions(FakeRegistry* registry,
                                            FakeCollector* collector);

// A RUNNING manual run "models/m/runs/1" of model m over the first 500
// seconds of a FakeCollector's rows, with `config` made effective (seed
// 11; 3 epochs and learning rate 0.01 unless set).
v1::Run FakeCollectorRun(v1::TrainingConfig config);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_CLIENTS_H_
