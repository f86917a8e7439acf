#include "services/collector/collector.h"

#include <google/protobuf/util/field_mask_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/logging.h"
#include "lib/core/page_token.h"
#include "lib/core/resource_names.h"
#include "services/collector/dataset_filter.h"
#include "services/collector/dataset_recovery.h"
#include "services/collector/dataset_settings.h"
#include "spdlog/spdlog.h"

namespace continuum::collector {
namespace {

constexpr absl::string_view kPrefix = "datasets/";

absl::StatusOr<std::string> IdFromName(absl::string_view name) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "datasets/{dataset}");
  if (!parts.ok()) return parts.status();
  return (*parts)[0];
}

// The query a ListDatasets page token belongs to (core::EncodePageToken):
// no parent, the filter, no order_by.
std::string ListQuery(const v1::ListDatasetsRequest& request) {
  return absl::StrCat("\n", request.filter(), "\n");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> Collector::Open(
    CollectorOptions options) {
  std::unique_ptr<Collector> collector(new Collector(std::move(options)));
  store::FileSystem* fs = collector->options_.store.fs;
  std::string root = absl::StrCat(collector->options_.data_dir, "/datasets");
  if (absl::Status s = fs->CreateDirs(root); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> children = fs->GetChildren(root);
  if (!children.ok()) return children.status();
  absl::MutexLock lock(&collector->mu_);
  for (const std::string& id : *children) {
    if (absl::StartsWith(id, ".deleted-")) {
      // A DeleteDataset interrupted by a crash: finish it.
      (void)fs->DeleteRecursively(absl::StrCat(root, "/", id));
      continue;
    }
    if (!ValidateDatasetId(id).ok()) continue;
    std::string dir = collector->DatasetDir(id);
    if (!fs->FileExists(DatasetSettingsPath(dir))) {
      // A CreateDataset that crashed before its settings were written.
      spdlog::warn("removing incomplete data set directory {}", dir);
      (void)fs->DeleteRecursively(dir);
      continue;
    }
    absl::StatusOr<std::unique_ptr<DatasetStore>> store =
        DatasetStore::Open(dir, collector->options_.store);
    if (!store.ok()) {
      return absl::Status(store.status().code(),
                          absl::StrCat("opening data set ", id, ": ",
                                       store.status().message()));
    }
    collector->datasets_[id] = std::move(*store);
  }
  return collector;
}

Collector::~Collector() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (sync_thread_.joinable()) sync_thread_.join();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
}

std::string Collector::DatasetDir(absl::string_view id) const {
  return absl::StrCat(options_.data_dir, "/datasets/", id);
}

void Collector::StartBackground() {
  core::Clock* clock = options_.store.clock;
  // 20 ms: finer than any sensible fsync_interval.
  sync_thread_ = std::thread([this, clock] {
    Loop(absl::Milliseconds(20), [&] { SyncDue(clock->Now()); });
  });
  maintenance_thread_ = std::thread([this] {
    Loop(options_.maintenance_interval, [&] { RunMaintenance(); });
  });
}

void Collector::Loop(absl::Duration period, const std::function<void()>& step) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), period);
      if (stopping_) return;
    }
    step();
  }
}

void Collector::SyncDue(absl::Time now) {
  std::vector<std::pair<std::string, std::shared_ptr<DatasetStore>>> due;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, store] : datasets_) {
      if (!store->interval_durability()) continue;
      absl::Time& last = last_sync_[id];
      if (now - last >= store->fsync_interval()) {
        last = now;
        due.emplace_back(id, store);
      }
    }
  }
  for (const auto& [id, store] : due) {
    if (absl::Status s = store->Sync(); !s.ok()) {
      spdlog::error("data set {}: interval fsync failed: {}", id, s.message());
    }
  }
}

void Collector::RunMaintenance() {
  std::vector<std::shared_ptr<DatasetStore>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, store] : datasets_) all.push_back(store);
  }
  for (const auto& store : all) {
    if (absl::Status s = store->RunMaintenance(); !s.ok()) {
      spdlog::error("data set {}: maintenance failed: {}", store->id(),
                    s.message());
    }
  }
}

absl::StatusOr<std::shared_ptr<DatasetStore>> Collector::Find(
    absl::string_view id) {
  if (id.empty()) {
    return absl::InvalidArgumentError("dataset is missing: name a data set id");
  }
  absl::MutexLock lock(&mu_);
  auto it = datasets_.find(std::string(id));
  if (it == datasets_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "data set \"", id, "\" does not exist; create it with CreateDataset"));
  }
  return it->second;
}

void Collector::CountRejected(
    absl::string_view id,
    const google::protobuf::RepeatedPtrField<v1::Record>& records) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store = Find(id);
  if (store.ok()) (*store)->CountRejected(records);
}

absl::StatusOr<std::shared_ptr<DatasetStore>> Collector::FindByName(
    absl::string_view name) {
  absl::StatusOr<std::string> id = IdFromName(name);
  if (!id.ok()) return id.status();
  return Find(*id);
}

absl::StatusOr<v1::Dataset> Collector::CreateDataset(
    const v1::CreateDatasetRequest& request) {
  if (absl::Status s = ValidateDatasetId(request.dataset_id()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateSchema(request.dataset().schema()); !s.ok()) {
    return s;
  }
  const v1::Dataset& d = request.dataset();
  if (absl::Status s = ValidateSettings(d); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (deleting_.contains(request.dataset_id())) {
    return absl::UnavailableError(
        absl::StrCat("data set \"", request.dataset_id(),
                     "\" is still being deleted; retry in a moment"));
  }
  if (datasets_.contains(request.dataset_id())) {
    return absl::AlreadyExistsError(
        absl::StrCat("data set \"", request.dataset_id(), "\" already exists"));
  }
  absl::StatusOr<std::unique_ptr<DatasetStore>> store =
      DatasetStore::Create(DatasetDir(request.dataset_id()),
                           request.dataset_id(), d, options_.store);
  if (!store.ok()) return store.status();
  v1::Dataset created = (*store)->dataset();
  datasets_[request.dataset_id()] = std::move(*store);
  spdlog::info("created data set {}", request.dataset_id());
  return created;
}

absl::StatusOr<v1::Dataset> Collector::GetDataset(absl::string_view name) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store = FindByName(name);
  if (!store.ok()) return store.status();
  return (*store)->dataset();
}

absl::StatusOr<v1::ListDatasetsResponse> Collector::ListDatasets(
    const v1::ListDatasetsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  const int page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  absl::StatusOr<DatasetFilter> filter = DatasetFilter::Parse(request.filter());
  if (!filter.ok()) return filter.status();
  // The id of the last data set of the previous page.
  absl::StatusOr<std::string> after =
      core::DecodePageToken(request.page_token(), ListQuery(request));
  if (!after.ok()) return after.status();
  std::vector<v1::Dataset> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = datasets_.upper_bound(*after); it != datasets_.end(); ++it) {
      all.push_back(it->second->dataset());
    }
  }
  v1::ListDatasetsResponse response;
  std::string last;
  for (const v1::Dataset& d : all) {
    if (!filter->Matches(d)) continue;
    if (response.datasets_size() == page_size) {
      response.set_next_page_token(
          core::EncodePageToken(last, ListQuery(request)));
      break;
    }
    *response.add_datasets() = d;
    last = d.name().substr(kPrefix.size());
  }
  return response;
}

absl::StatusOr<v1::Dataset> Collector::UpdateDataset(
    const v1::UpdateDatasetRequest& request) {
  if (request.update_mask().paths_size() == 0) {
    return absl::InvalidArgumentError(
        "update_mask is empty: name the fields to change, e.g. "
        "retention.max_age");
  }
  for (const std::string& path : request.update_mask().paths()) {
    if (!IsMutableSettingsPath(path)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: \"", path,
          "\" cannot be changed (the schema and replay settings are fixed at "
          "creation; name, create_time and update_time are output only)"));
    }
  }
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      FindByName(request.dataset().name());
  if (!store.ok()) return store.status();
  v1::Dataset updated = (*store)->dataset();
  google::protobuf::util::FieldMaskUtil::MergeOptions merge;
  merge.set_replace_message_fields(true);
  merge.set_replace_repeated_fields(true);
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(
      request.dataset(), request.update_mask(), merge, &updated);
  if (absl::Status s = ValidateSettings(updated); !s.ok()) return s;
  return (*store)->UpdateSettings(updated);
}

absl::StatusOr<v1::DeleteDatasetResponse> Collector::DeleteDataset(
    absl::string_view name) {
  absl::StatusOr<std::string> id = IdFromName(name);
  if (!id.ok()) return id.status();
  std::shared_ptr<DatasetStore> store;
  {
    absl::MutexLock lock(&mu_);
    auto it = datasets_.find(*id);
    if (it == datasets_.end()) {
      return absl::NotFoundError(
          absl::StrCat("data set \"", *id, "\" does not exist"));
    }
    store = it->second;
    datasets_.erase(it);
    last_sync_.erase(*id);
    deleting_.insert(*id);
  }
  v1::DeleteDatasetResponse response;
  int64_t records = 0;
  int64_t bytes = 0;
  absl::Status destroyed = store->Destroy(&records, &bytes);
  {
    absl::MutexLock lock(&mu_);
    deleting_.erase(*id);
  }
  if (!destroyed.ok()) return destroyed;
  response.set_deleted_records(records);
  response.set_deleted_bytes(bytes);
  if (options_.store.metrics != nullptr) {
    options_.store.metrics->RemoveDataset(*id);
  }
  spdlog::info("deleted data set {} ({} records)", *id, records);
  return response;
}

}  // namespace continuum::collector
