#include "tools/continuumctl/record_parsing.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace continuum::ctl {

using google::protobuf::util::TimeUtil;

absl::StatusOr<google::protobuf::Timestamp> ParseTime(absl::string_view text) {
  google::protobuf::Timestamp ts;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    // A Timestamp spans 0001-01-01 to 9999-12-31 (found by
    // fuzz/ingest_fuzzer: 4.4e29 overflowed the conversion to int64).
    if (!(seconds >= static_cast<double>(TimeUtil::kTimestampMinSeconds) &&
          seconds < static_cast<double>(TimeUtil::kTimestampMaxSeconds) + 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text,
          "\" is outside the times a record can carry (years 1 to 9999)"));
    }
    ts.set_seconds(static_cast<int64_t>(std::floor(seconds)));
    ts.set_nanos(static_cast<int32_t>((seconds - std::floor(seconds)) * 1e9));
    return ts;
  }
  if (!TimeUtil::FromString(std::string(text), &ts)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\" is not an RFC 3339 time (2026-11-23T10:00:00Z) or "
                     "Unix seconds"));
  }
  return ts;
}

absl::StatusOr<v1::TimeWindow> ParseTimeWindow(absl::string_view from,
                                               absl::string_view to) {
  v1::TimeWindow window;
  for (auto [text, field] : {std::pair{from, window.mutable_start_time()},
                             std::pair{to, window.mutable_end_time()}}) {
    if (text.empty()) continue;
    absl::StatusOr<google::protobuf::Timestamp> ts = ParseTime(text);
    if (!ts.ok()) return ts.status();
    *field = *ts;
  }
  if (from.empty()) window.clear_start_time();
  if (to.empty()) window.clear_end_time();
  return window;
}

absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c != '\r') {
      field.push_back(c);
    }
  }
  if (quoted) return absl::InvalidArgumentError("unterminated quoted field");
  fields.push_back(std::move(field));
  return fields;
}

absl::StatusOr<CsvLayout> ParseCsvHeader(const std::vector<std::string>& header,
                                         const v1::DatasetSchema& schema) {
  CsvLayout layout;
  for (int i = 0; i < static_cast<int>(header.size()); ++i) {
    std::string name(absl::StripAsciiWhitespace(header[i]));
    if (name == "id") {
      layout.id = i;
    } else if (name == "event_time") {
      layout.event_time = i;
    } else if (name == "label") {
      layout.label = i;
    } else if (absl::StartsWith(name, "attr.")) {
      layout.attributes.emplace_back(i, name.substr(5));
    } else {
      layout.features.push_back(i);
    }
  }
  if (layout.id < 0) {
    return absl::InvalidArgumentError("the header has no \"id\" column");
  }
  if (static_cast<int>(layout.features.size()) != schema.feature_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the header has ", layout.features.size(),
        " feature columns, the data set has ", schema.feature_dim(),
        " (columns other than id, event_time, label and attr.* are features)"));
  }
  return layout;
}

absl::StatusOr<v1::Record> ParseCsvRow(const std::vector<std::string>& row,
                                       const CsvLayout& layout,
                                       const v1::DatasetSchema& schema) {
  auto column = [&](int index) -> absl::string_view {
    return index >= 0 && index < static_cast<int>(row.size())
               ? absl::StripAsciiWhitespace(row[index])
               : absl::string_view();
  };
  v1::Record record;
  record.set_id(std::string(column(layout.id)));
  if (record.id().empty()) return absl::InvalidArgumentError("id is empty");
  if (absl::string_view t = column(layout.event_time); !t.empty()) {
    absl::StatusOr<google::protobuf::Timestamp> ts = ParseTime(t);
    if (!ts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("event_time: ", ts.status().message()));
    }
    *record.mutable_event_time() = *ts;
  } else {
    *record.mutable_event_time() = TimeUtil::GetCurrentTime();
  }
  for (int index : layout.features) {
    float value = 0;
    if (!absl::SimpleAtof(column(index), &value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column ", index + 1, ": \"", column(index), "\" is not a number"));
    }
    record.add_features(value);
  }
  if (absl::string_view label = column(layout.label); !label.empty()) {
    switch (schema.label_kind()) {
      case v1::LABEL_KIND_CLASS: {
        int c = 0;
        if (!absl::SimpleAtoi(label, &c)) {
          return absl::InvalidArgumentError(
              absl::StrCat("label \"", label, "\" is not a class index"));
        }
        record.mutable_label()->set_class_index(c);
        break;
      }
      case v1::LABEL_KIND_VALUE: {
        float v = 0;
        if (!absl::SimpleAtof(label, &v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("label \"", label, "\" is not a number"));
        }
        record.mutable_label()->set_target_value(v);
        break;
      }
      case v1::LABEL_KIND_VECTOR:
        for (absl::string_view part : absl::StrSplit(label, ';')) {
          float v = 0;
          if (!absl::SimpleAtof(part, &v)) {
            return absl::InvalidArgumentError(
                absl::StrCat("label value \"", part, "\" is not a number"));
          }
          record.mutable_label()->mutable_target_vector()->add_values(v);
        }
        break;
      default:
        return absl::InvalidArgumentError(
            "the data set takes no labels, but the row has one");
    }
  }
  for (const auto& [index, key] : layout.attributes) {
    if (absl::string_view value = column(index); !value.empty()) {
      (*record.mutable_attributes())[key] = std::string(value);
    }
  }
  return record;
}

absl::StatusOr<v1::Record> ParseJsonRecord(absl::string_view line) {
  v1::Record parsed;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &parsed);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a Record in JSON: ", status.message().as_string()));
  }
  return parsed;
}

}  // namespace continuum::ctl
