#include "tools/continuumctl/collector_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "tools/continuumctl/cli_util.h"
#include "tools/continuumctl/record_parsing.h"

ABSL_FLAG(std::string, dataset, "", "Data set id (ingest, export, datasets).");
ABSL_FLAG(std::string, csv, "",
          "ingest: CSV file with a header row; predict: rows of features.");
ABSL_FLAG(
    std::string, jsonl, "",
    "ingest: JSON lines file, one continuum.v1.Record per line in "
    "proto3 JSON (e.g. {\"id\":\"a\",\"eventTime\":\"2026-01-01T00:00:00Z\","
    "\"features\":[1,2],\"label\":{\"classIndex\":1}}).");
ABSL_FLAG(int, batch_size, 1000, "ingest: records per IngestBatch call.");
ABSL_FLAG(std::string, from, "",
          "export, trainer trigger: window start, RFC 3339 (inclusive).");
ABSL_FLAG(std::string, to, "",
          "export, trainer trigger: window end, RFC 3339 (exclusive).");
ABSL_FLAG(std::string, format, "csv", "export: output format, csv or jsonl.");
ABSL_FLAG(std::string, output, "", "export: output file; default stdout.");
ABSL_FLAG(int, features, 0, "datasets create: features per record.");
ABSL_FLAG(std::string, label_kind, "class",
          "datasets create: none, class, value or vector.");
ABSL_FLAG(int, classes, 0, "datasets create: number of classes.");
ABSL_FLAG(int64_t, replay_size, 0, "datasets create: replay buffer size.");
ABSL_FLAG(std::string, retention, "",
          "datasets create: maximum age of records, e.g. 1440h (60 days).");

namespace continuum::ctl {
namespace {

using google::protobuf::util::TimeUtil;

std::unique_ptr<v1::CollectorService::Stub> Stub() {
  return v1::CollectorService::NewStub(TargetChannel());
}

absl::StatusOr<v1::Dataset> FetchDataset(v1::CollectorService::Stub& stub,
                                         const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetDatasetRequest request;
  request.set_name(absl::StrCat("datasets/", id));
  v1::GetDatasetResponse response;
  grpc::Status status = stub.GetDataset(&context, request, &response);
  if (!status.ok()) return StatusFromGrpc(status);
  return response.dataset();
}

// Sends `batch` and reports per-line problems. Returns records stored.
struct IngestTotals {
  int64_t lines = 0;
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
};

absl::Status SendBatch(v1::CollectorService::Stub& stub,
                       const std::string& dataset,
                       std::vector<std::pair<int64_t, v1::Record>>& batch,
                       IngestTotals* totals) {
  if (batch.empty()) return absl::OkStatus();
  auto send = [&](int64_t from, int64_t to, v1::IngestBatchResponse* response) {
    v1::IngestBatchRequest request;
    request.set_dataset(dataset);
    for (int64_t i = from; i < to; ++i)
      *request.add_records() = batch[i].second;
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub.IngestBatch(&context, request, response);
  };
  v1::IngestBatchResponse response;
  grpc::Status status = send(0, static_cast<int64_t>(batch.size()), &response);
  if (status.ok()) {
    totals->accepted += response.accepted_records();
    totals->duplicates += response.duplicate_records();
  } else if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    // The server rejected the batch whole; find the bad lines one by one and
    // keep the good ones.
    for (int64_t i = 0; i < static_cast<int64_t>(batch.size()); ++i) {
      v1::IngestBatchResponse one;
      grpc::Status s = send(i, i + 1, &one);
      if (s.ok()) {
        totals->accepted += one.accepted_records();
        totals->duplicates += one.duplicate_records();
      } else if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        std::string full = s.error_message();
        absl::string_view message = full;
        absl::ConsumePrefix(&message, "batch rejected, nothing stored: ");
        absl::ConsumePrefix(&message, "record 0 ");
        std::cerr << "\rline " << batch[i].first << ": rejected: " << message
                  << "\n";
        ++totals->rejected;
      } else {
        return StatusFromGrpc(s);
      }
    }
  } else {
    return StatusFromGrpc(status);
  }
  batch.clear();
  return absl::OkStatus();
}

void PrintProgress(int64_t done, int64_t total_bytes, int64_t bytes,
                   const IngestTotals& totals) {
  if (!isatty(STDERR_FILENO)) return;
  double fraction =
      total_bytes > 0 ? static_cast<double>(bytes) / total_bytes : 0;
  int filled = static_cast<int>(fraction * 30);
  std::cerr << "\r[" << std::string(filled, '#')
            << std::string(30 - filled, ' ') << "] "
            << static_cast<int>(fraction * 100) << "% " << done << " lines, "
            << totals.accepted << " stored, " << totals.rejected << " rejected"
            << std::flush;
}

std::string LabelText(const v1::RecordBatch& b, int r) {
  if (!b.labeled(r)) return "";
  switch (b.label_kind()) {
    case v1::LABEL_KIND_CLASS:
      return absl::StrCat(b.class_indices(r));
    case v1::LABEL_KIND_VALUE:
      return absl::StrCat(b.targets(r));
    case v1::LABEL_KIND_VECTOR: {
      std::vector<std::string> values;
      for (int t = 0; t < b.target_dim(); ++t) {
        values.push_back(absl::StrCat(b.targets(r * b.target_dim() + t)));
      }
      return absl::StrJoin(values, ";");
    }
    default:
      return "";
  }
}

}  // namespace

int RunIngestCommand(const std::vector<std::string>& args) {
  if (!args.empty())
    return Fail("ingest",
                absl::InvalidArgumentError("unexpected argument " + args[0]));
  const std::string dataset = absl::GetFlag(FLAGS_dataset);
  const std::string csv = absl::GetFlag(FLAGS_csv);
  const std::string jsonl = absl::GetFlag(FLAGS_jsonl);
  if (absl::GetFlag(FLAGS_target).empty() || dataset.empty() ||
      csv.empty() == jsonl.empty()) {
    return Fail("ingest", absl::InvalidArgumentError(
                              "usage: continuumctl ingest --target=HOST:PORT "
                              "--dataset=D (--csv=FILE | --jsonl=FILE)"));
  }
  const std::string path = csv.empty() ? jsonl : csv;
  std::ifstream in(path);
  if (!in) return Fail("ingest", absl::NotFoundError("cannot open " + path));
  in.seekg(0, std::ios::end);
  const int64_t total_bytes = in.tellg();
  in.seekg(0);

  auto stub = Stub();
  absl::StatusOr<v1::Dataset> info = FetchDataset(*stub, dataset);
  if (!info.ok()) return Fail("ingest", info.status());
  const v1::DatasetSchema& schema = info->schema();

  CsvLayout layout;
  std::string line;
  int64_t line_number = 0;
  if (!csv.empty()) {
    if (!std::getline(in, line)) {
      return Fail("ingest", absl::InvalidArgumentError(path + " is empty"));
    }
    ++line_number;
    absl::StatusOr<std::vector<std::string>> header = SplitCsvLine(line);
    absl::StatusOr<CsvLayout> parsed =
        header.ok() ? ParseCsvHeader(*header, schema)
                    : absl::StatusOr<CsvLayout>(header.status());
    if (!parsed.ok()) {
      return Fail("ingest",
                  absl::InvalidArgumentError(absl::StrCat(
                      path, ": header: ", parsed.status().message())));
    }
    layout = *parsed;
  }

  const int batch_size = std::max(1, absl::GetFlag(FLAGS_batch_size));
  IngestTotals totals;
  std::vector<std::pair<int64_t, v1::Record>> batch;
  auto last_progress = std::chrono::steady_clock::now();
  while (std::getline(in, line)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++totals.lines;
    absl::StatusOr<v1::Record> record;
    if (!csv.empty()) {
      absl::StatusOr<std::vector<std::string>> row = SplitCsvLine(line);
      record = row.ok() ? ParseCsvRow(*row, layout, schema)
                        : absl::StatusOr<v1::Record>(row.status());
    } else {
      record = ParseJsonRecord(line);
    }
    if (!record.ok()) {
      std::cerr << "\rline " << line_number
                << ": rejected: " << record.status().message() << "\n";
      ++totals.rejected;
      continue;
    }
    batch.emplace_back(line_number, *std::move(record));
    if (static_cast<int>(batch.size()) >= batch_size) {
      if (absl::Status s = SendBatch(*stub, dataset, batch, &totals); !s.ok()) {
        return Fail("ingest", s);
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress > std::chrono::milliseconds(200)) {
      PrintProgress(totals.lines, total_bytes, in.tellg(), totals);
      last_progress = now;
    }
  }
  if (absl::Status s = SendBatch(*stub, dataset, batch, &totals); !s.ok()) {
    return Fail("ingest", s);
  }
  PrintProgress(totals.lines, total_bytes, total_bytes, totals);
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  std::cout << "ingested " << path << " into " << dataset << ": "
            << totals.lines << " lines, " << totals.accepted << " stored, "
            << totals.duplicates << " duplicates, " << totals.rejected
            << " rejected\n";
  return totals.rejected > 0 ? 1 : 0;
}

int RunExportCommand(const std::vector<std::string>& args) {
  if (!args.empty())
    return Fail("export",
                absl::InvalidArgumentError("unexpected argument " + args[0]));
  const std::string dataset = absl::GetFlag(FLAGS_dataset);
  const std::string format = absl::GetFlag(FLAGS_format);
  if (absl::GetFlag(FLAGS_target).empty() || dataset.empty()) {
    return Fail("export",
                absl::InvalidArgumentError(
                    "usage: continuumctl export --target=HOST:PORT "
                    "--dataset=D [--from=T] [--to=T] [--format=csv|jsonl]"));
  }
  if (format != "csv" && format != "jsonl") {
    return Fail("export",
                absl::InvalidArgumentError("--format must be csv or jsonl"));
  }
  v1::ScanRequest request;
  request.set_dataset(dataset);
  request.set_include_attributes(true);
  absl::StatusOr<v1::TimeWindow> window =
      ParseTimeWindow(absl::GetFlag(FLAGS_from), absl::GetFlag(FLAGS_to));
  if (!window.ok()) return Fail("export", window.status());
  *request.mutable_window() = *std::move(window);

  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!absl::GetFlag(FLAGS_output).empty()) {
    file.open(absl::GetFlag(FLAGS_output));
    if (!file) {
      return Fail("export", absl::InvalidArgumentError(
                                "cannot write " + absl::GetFlag(FLAGS_output)));
    }
    out = &file;
  }
  auto stub = Stub();
  grpc::ClientContext context;
  auto reader = stub->Scan(&context, request);
  v1::ScanResponse response;
  bool header_written = false;
  int64_t rows = 0;
  while (reader->Read(&response)) {
    const v1::RecordBatch& b = response.batch();
    if (format == "csv" && !header_written) {
      *out << "id,event_time,label";
      for (int f = 0; f < b.feature_dim(); ++f) *out << ",f" << f;
      *out << "\n";
      header_written = true;
    }
    for (int r = 0; r < b.num_rows(); ++r) {
      std::string time = TimeUtil::ToString(
          TimeUtil::MicrosecondsToTimestamp(b.event_time_unix_micros(r)));
      if (format == "csv") {
        *out << b.ids(r) << "," << time << "," << LabelText(b, r);
        for (int f = 0; f < b.feature_dim(); ++f) {
          *out << "," << b.features(r * b.feature_dim() + f);
        }
        *out << "\n";
      } else {
        v1::Record record;
        record.set_id(b.ids(r));
        *record.mutable_event_time() =
            TimeUtil::MicrosecondsToTimestamp(b.event_time_unix_micros(r));
        for (int f = 0; f < b.feature_dim(); ++f) {
          record.add_features(b.features(r * b.feature_dim() + f));
        }
        if (b.labeled(r) && b.label_kind() == v1::LABEL_KIND_CLASS) {
          record.mutable_label()->set_class_index(b.class_indices(r));
        } else if (b.labeled(r) && b.label_kind() == v1::LABEL_KIND_VALUE) {
          record.mutable_label()->set_target_value(b.targets(r));
        } else if (b.labeled(r) && b.label_kind() == v1::LABEL_KIND_VECTOR) {
          for (int t = 0; t < b.target_dim(); ++t) {
            record.mutable_label()->mutable_target_vector()->add_values(
                b.targets(r * b.target_dim() + t));
          }
        }
        if (r < b.attributes_size()) {
          *record.mutable_attributes() = b.attributes(r).values();
        }
        std::string json;
        (void)google::protobuf::util::MessageToJsonString(record, &json);
        *out << json << "\n";
      }
      ++rows;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Fail("export", StatusFromGrpc(status));
  std::cerr << "exported " << rows << " records\n";
  return 0;
}

int RunDatasetsCommand(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: continuumctl datasets (list | get | stats | delete | create "
      "--features=N --label_kind=class --classes=K) --target=HOST:PORT "
      "[--dataset=D] [--json]";
  if (args.size() != 1 || absl::GetFlag(FLAGS_target).empty()) {
    return Fail("datasets", absl::InvalidArgumentError(usage));
  }
  const std::string& verb = args[0];
  const std::string dataset = absl::GetFlag(FLAGS_dataset);
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status;
  if (verb == "list") {
    v1::ListDatasetsRequest request;
    v1::ListDatasetsResponse response;
    status = stub->ListDatasets(&context, request, &response);
    if (status.ok()) {
      if (JsonOutput()) return PrintJson(response);
      std::vector<std::vector<std::string>> rows = {
          {"DATASET", "FEATURES", "LABELS", "CREATED"}};
      for (const v1::Dataset& d : response.datasets()) {
        rows.push_back({d.name().substr(9),
                        absl::StrCat(d.schema().feature_dim()),
                        v1::LabelKind_Name(d.schema().label_kind()),
                        TimeUtil::ToString(d.create_time())});
      }
      PrintTable(rows);
      return 0;
    }
  } else if (verb == "get" || verb == "stats" || verb == "delete") {
    if (dataset.empty())
      return Fail("datasets",
                  absl::InvalidArgumentError("--dataset is required"));
    const std::string name = absl::StrCat("datasets/", dataset);
    if (verb == "get") {
      v1::GetDatasetRequest request;
      request.set_name(name);
      v1::GetDatasetResponse response;
      status = stub->GetDataset(&context, request, &response);
      if (status.ok()) return PrintJson(response.dataset());
    } else if (verb == "stats") {
      v1::GetDatasetStatsRequest request;
      request.set_name(name);
      v1::GetDatasetStatsResponse response;
      status = stub->GetDatasetStats(&context, request, &response);
      if (status.ok()) {
        if (JsonOutput()) return PrintJson(response.stats());
        const v1::DatasetStats& s = response.stats();
        PrintTable(
            {{"RECORDS", "LABELED", "BYTES", "SEGMENTS", "REPLAY",
              "PENDING OUTCOMES", "FIRST", "LAST"},
             {absl::StrCat(s.record_count()), absl::StrCat(s.labeled_count()),
              absl::StrCat(s.stored_bytes()), absl::StrCat(s.segment_count()),
              absl::StrCat(s.replay_buffer_size()),
              absl::StrCat(s.pending_outcomes()),
              s.has_first_event_time()
                  ? TimeUtil::ToString(s.first_event_time())
                  : "-",
              s.has_last_event_time() ? TimeUtil::ToString(s.last_event_time())
                                      : "-"}});
        return 0;
      }
    } else {
      v1::DeleteDatasetRequest request;
      request.set_name(name);
      v1::DeleteDatasetResponse response;
      status = stub->DeleteDataset(&context, request, &response);
      if (status.ok()) {
        std::cout << "deleted " << dataset << ": " << response.deleted_records()
                  << " records, " << response.deleted_bytes() << " bytes\n";
        return 0;
      }
    }
  } else if (verb == "create") {
    if (dataset.empty())
      return Fail("datasets",
                  absl::InvalidArgumentError("--dataset is required"));
    v1::CreateDatasetRequest request;
    request.set_dataset_id(dataset);
    v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(absl::GetFlag(FLAGS_features));
    const std::string kind = absl::GetFlag(FLAGS_label_kind);
    v1::LabelKind label_kind = v1::LABEL_KIND_UNSPECIFIED;
    if (!v1::LabelKind_Parse("LABEL_KIND_" + absl::AsciiStrToUpper(kind),
                             &label_kind)) {
      return Fail("datasets",
                  absl::InvalidArgumentError(
                      "--label_kind must be none, class, value or vector"));
    }
    schema->set_label_kind(label_kind);
    schema->set_num_classes(absl::GetFlag(FLAGS_classes));
    request.mutable_dataset()->mutable_replay()->set_size(
        absl::GetFlag(FLAGS_replay_size));
    if (!absl::GetFlag(FLAGS_retention).empty()) {
      absl::Duration age;
      if (!absl::ParseDuration(absl::GetFlag(FLAGS_retention), &age)) {
        return Fail("datasets",
                    absl::InvalidArgumentError(
                        "--retention must be a duration like 1440h"));
      }
      request.mutable_dataset()
          ->mutable_retention()
          ->mutable_max_age()
          ->set_seconds(absl::ToInt64Seconds(age));
    }
    v1::CreateDatasetResponse response;
    status = stub->CreateDataset(&context, request, &response);
    if (status.ok()) {
      std::cout << "created " << response.dataset().name() << "\n";
      return 0;
    }
  } else {
    return Fail("datasets", absl::InvalidArgumentError(usage));
  }
  return Fail("datasets", StatusFromGrpc(status));
}

}  // namespace continuum::ctl
