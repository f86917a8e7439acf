#include "services/collector/dataset_aggregates.h"

#include <string>

#include "absl/time/time.h"
#include "lib/core/proto_time.h"

namespace continuum::collector {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;

int64_t DayOf(int64_t micros) {
  return micros >= 0 ? micros / kMicrosPerDay
                     : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
}

std::string DayString(int64_t day) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(day * 86400),
                          absl::UTCTimeZone());
}

}  // namespace

void DatasetAggregates::AddRecord(const v1::Record& record,
                                  const v1::Label* label) {
  int64_t event = core::ToUnixMicros(record.event_time());
  if (records_ == 0 || event < first_event_micros_) first_event_micros_ = event;
  if (records_ == 0 || event > last_event_micros_) last_event_micros_ = event;
  ++records_;
  ++days_[DayOf(event)].first;
  if (means_.size() != static_cast<size_t>(record.features_size())) {
    means_.assign(record.features_size(), 0.0);
    m2_.assign(record.features_size(), 0.0);
  }
  // Welford's online update of mean and sum of squared deviations.
  const double n = static_cast<double>(records_);
  for (int f = 0; f < record.features_size(); ++f) {
    double x = record.features(f);
    double delta = x - means_[f];
    means_[f] += delta / n;
    m2_[f] += delta * (x - means_[f]);
  }
  if (label != nullptr) AddLabel(event, *label);
}

void DatasetAggregates::AddLabel(int64_t event_micros, const v1::Label& label) {
  ++labeled_;
  ++days_[DayOf(event_micros)].second;
  if (label.value_case() == v1::Label::kClassIndex) {
    ++class_counts_[label.class_index()];
  }
}

void DatasetAggregates::ReplaceLabel(const v1::Label& old,
                                     const v1::Label& replacement) {
  if (old.value_case() == v1::Label::kClassIndex) {
    --class_counts_[old.class_index()];
  }
  if (replacement.value_case() == v1::Label::kClassIndex) {
    ++class_counts_[replacement.class_index()];
  }
}

void DatasetAggregates::FillStats(v1::DatasetStats* stats) const {
  stats->set_record_count(records_);
  stats->set_labeled_count(labeled_);
  stats->set_labeled_fraction(records_ == 0
                                  ? 0.0
                                  : static_cast<double>(labeled_) /
                                        static_cast<double>(records_));
  if (records_ > 0) {
    *stats->mutable_first_event_time() =
        core::TimestampFromUnixMicros(first_event_micros_);
    *stats->mutable_last_event_time() =
        core::TimestampFromUnixMicros(last_event_micros_);
  }
  for (const auto& [day, counts] : days_) {
    v1::DailyCount* daily = stats->add_daily_counts();
    daily->set_date(DayString(day));
    daily->set_records(counts.first);
    daily->set_labeled_records(counts.second);
  }
  for (size_t f = 0; f < means_.size(); ++f) {
    stats->add_feature_means(means_[f]);
    stats->add_feature_variances(records_ > 0 ? m2_[f] / records_ : 0.0);
  }
  for (const auto& [c, n] : class_counts_) {
    if (n > 0) (*stats->mutable_class_counts())[c] = n;
  }
}

}  // namespace continuum::collector
