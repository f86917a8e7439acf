#include "lib/drift/streaming_detector.h"

#include <cmath>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/drift/adwin.h"
#include "lib/drift/binary_detectors.h"
#include "lib/drift/kswin.h"
#include "lib/drift/page_hinkley.h"

namespace continuum::drift {
namespace {

struct DetectorSpec {
  std::string name;
  std::vector<std::string> params;
};

const std::vector<DetectorSpec>& Specs() {
  static const auto* specs = new std::vector<DetectorSpec>{
      {"adwin",
       {"delta", "clock", "max_buckets", "min_window_length", "grace_period"}},
      {"page_hinkley",
       {"min_instances", "delta", "threshold", "alpha", "mode"}},
      {"ddm", {"warm_start", "warning_threshold", "drift_threshold"}},
      {"eddm", {"warm_start", "alpha", "beta"}},
      {"hddm_a", {"drift_confidence", "warning_confidence", "two_sided_test"}},
      {"hddm_w",
       {"drift_confidence", "warning_confidence", "lambda_val",
        "two_sided_test"}},
      {"kswin", {"alpha", "window_size", "stat_size", "seed"}},
  };
  return *specs;
}

// Reads the parameters of one detector, reporting the first problem.
class ParamReader {
 public:
  ParamReader(absl::string_view detector,
              const std::map<std::string, std::string>& params)
      : detector_(detector), params_(params) {}

  void Double(absl::string_view name, double* out) {
    const std::string* text = Find(name);
    if (text == nullptr) return;
    double value;
    if (!absl::SimpleAtod(*text, &value) || !std::isfinite(value)) {
      Fail(name, *text, "a finite number");
      return;
    }
    *out = value;
  }

  template <typename Int>
  void Integer(absl::string_view name, Int* out) {
    const std::string* text = Find(name);
    if (text == nullptr) return;
    Int value;
    if (!absl::SimpleAtoi(*text, &value)) {
      Fail(name, *text, "an integer");
      return;
    }
    *out = value;
  }

  void Bool(absl::string_view name, bool* out) {
    const std::string* text = Find(name);
    if (text == nullptr) return;
    const std::string lower = absl::AsciiStrToLower(*text);
    if (lower == "true") {
      *out = true;
    } else if (lower == "false") {
      *out = false;
    } else {
      Fail(name, *text, "true or false");
    }
  }

  void Mode(absl::string_view name, PageHinkleyMode* out) {
    const std::string* text = Find(name);
    if (text == nullptr) return;
    if (*text == "up") {
      *out = PageHinkleyMode::kUp;
    } else if (*text == "down") {
      *out = PageHinkleyMode::kDown;
    } else if (*text == "both") {
      *out = PageHinkleyMode::kBoth;
    } else {
      Fail(name, *text, "up, down or both");
    }
  }

  void Seed(absl::string_view name, std::optional<uint64_t>* out) {
    const std::string* text = Find(name);
    if (text == nullptr) return;
    uint64_t value;
    if (!absl::SimpleAtoi(*text, &value)) {
      Fail(name, *text, "an integer from 0 to 18446744073709551615");
      return;
    }
    *out = value;
  }

  const absl::Status& status() const { return status_; }

 private:
  const std::string* Find(absl::string_view name) {
    if (!status_.ok()) return nullptr;
    auto it = params_.find(std::string(name));
    return it == params_.end() ? nullptr : &it->second;
  }
  void Fail(absl::string_view name, absl::string_view text,
            absl::string_view expected) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(detector_, ": parameter ", name, "='", text,
                     "' is not valid; allowed: ", expected));
  }

  std::string detector_;
  const std::map<std::string, std::string>& params_;
  absl::Status status_;
};

template <typename Options, typename Detector>
absl::StatusOr<std::unique_ptr<StreamingDetector>> Build(
    const ParamReader& reader, const Options& options) {
  if (!reader.status().ok()) return reader.status();
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<StreamingDetector>(
      std::make_unique<Detector>(options));
}

}  // namespace

const std::vector<std::string>& DetectorNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const DetectorSpec& spec : Specs()) v->push_back(spec.name);
    return v;
  }();
  return *names;
}

std::vector<std::string> DetectorParameterNames(absl::string_view name) {
  for (const DetectorSpec& spec : Specs()) {
    if (spec.name == name) return spec.params;
  }
  return {};
}

absl::StatusOr<std::unique_ptr<StreamingDetector>> MakeDetector(
    absl::string_view name, const std::map<std::string, std::string>& params) {
  const DetectorSpec* spec = nullptr;
  for (const DetectorSpec& s : Specs()) {
    if (s.name == name) spec = &s;
  }
  if (spec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown detector '", name,
                     "'; allowed: ", absl::StrJoin(DetectorNames(), ", ")));
  }
  const std::set<std::string> known(spec->params.begin(), spec->params.end());
  for (const auto& [key, value] : params) {
    if (known.count(key) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": unknown parameter '", key,
                       "'; allowed: ", absl::StrJoin(spec->params, ", ")));
    }
  }
  ParamReader reader(name, params);
  if (name == "adwin") {
    AdwinOptions o;
    reader.Double("delta", &o.delta);
    reader.Integer("clock", &o.clock);
    reader.Integer("max_buckets", &o.max_buckets);
    reader.Integer("min_window_length", &o.min_window_length);
    reader.Integer("grace_period", &o.grace_period);
    return Build<AdwinOptions, Adwin>(reader, o);
  }
  if (name == "page_hinkley") {
    PageHinkleyOptions o;
    reader.Integer("min_instances", &o.min_instances);
    reader.Double("delta", &o.delta);
    reader.Double("threshold", &o.threshold);
    reader.Double("alpha", &o.alpha);
    reader.Mode("mode", &o.mode);
    return Build<PageHinkleyOptions, PageHinkley>(reader, o);
  }
  if (name == "ddm") {
    DdmOptions o;
    reader.Integer("warm_start", &o.warm_start);
    reader.Double("warning_threshold", &o.warning_threshold);
    reader.Double("drift_threshold", &o.drift_threshold);
    return Build<DdmOptions, Ddm>(reader, o);
  }
  if (name == "eddm") {
    EddmOptions o;
    reader.Integer("warm_start", &o.warm_start);
    reader.Double("alpha", &o.alpha);
    reader.Double("beta", &o.beta);
    return Build<EddmOptions, Eddm>(reader, o);
  }
  if (name == "hddm_a") {
    HddmAOptions o;
    reader.Double("drift_confidence", &o.drift_confidence);
    reader.Double("warning_confidence", &o.warning_confidence);
    reader.Bool("two_sided_test", &o.two_sided_test);
    return Build<HddmAOptions, HddmA>(reader, o);
  }
  if (name == "hddm_w") {
    HddmWOptions o;
    reader.Double("drift_confidence", &o.drift_confidence);
    reader.Double("warning_confidence", &o.warning_confidence);
    reader.Double("lambda_val", &o.lambda_val);
    reader.Bool("two_sided_test", &o.two_sided_test);
    return Build<HddmWOptions, HddmW>(reader, o);
  }
  // kswin
  KswinOptions o;
  reader.Double("alpha", &o.alpha);
  reader.Integer("window_size", &o.window_size);
  reader.Integer("stat_size", &o.stat_size);
  reader.Seed("seed", &o.seed);
  if (!reader.status().ok()) return reader.status();
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  return std::unique_ptr<StreamingDetector>(std::make_unique<Kswin>(o));
}

}  // namespace continuum::drift
