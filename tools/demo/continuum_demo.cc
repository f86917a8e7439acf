// continuum-demo: the continuous-learning loop on Fashion-MNIST, driven
// against the five running services (started by deploy/local/continuum-up;
// deploy/local/demo does both).
//
//  1. Creates the data set and registers the model (canary rollout plan),
//     configures training (incremental, replay) and the drift monitor
//     (ADWIN on the error stream; concept drift -> retrain).
//  2. Cold start: ingests labelled images of distribution A (the original
//     images) into the collector and asks the trainer for a run; the
//     registry validates the version and deploys it; the inference pod
//     loads it.
//  3. Streams images through the inference service (Predict), reports each
//     outcome to the collector (labels for training) and to the drift
//     service (right or wrong), and prints the accuracy of every window.
//  4. Switches the stream to distribution B (the images rotated by 90
//     degrees): accuracy falls, the drift service detects it and asks the
//     trainer for a run, the trainer fine-tunes on the new window with
//     replay, the registry validates and canaries the candidate, the pod
//     hot-swaps, accuracy recovers.
//  5. Uploads a deliberately bad candidate (untrained weights, evaluated
//     honestly on recent data): the registry's gates reject it.
//  6. Each version, when it first answers, is also measured on 1000
//     held-out images of A (the test split, requests sent with log NEVER,
//     so they are neither training data nor drift observations): what it
//     kept of A (forgetting).
//  7. Writes the report: timeline.csv, held_out_a.csv, accuracy.png
//     (gnuplot, when installed: one line per serving version, the held-out
//     A accuracy of each version, the drift alert, the runs and the version
//     switches marked with labels that do not overlap), and summary.md
//     with the numbers and the numbered events.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "continuum/v1/inference.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "lib/data/fashion_mnist.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "tools/continuumctl/endpoints.h"

ABSL_FLAG(std::string, endpoints, "",
          "endpoints.env written by deploy/local/continuum-up "
          "(CONTINUUM_<SERVICE>=HOST:PORT lines).");
ABSL_FLAG(std::string, out_dir, "demo-report",
          "Where the report (timeline.csv, accuracy.png, summary.md) goes.");
ABSL_FLAG(std::string, model, "fmnist", "Model and data set id.");
ABSL_FLAG(int, cold_start_rows, 6000, "Labelled rows of A for the cold start.");
ABSL_FLAG(int, batch, 100, "Rows per Predict call of the stream.");
ABSL_FLAG(int, a_batches, 15, "Stream batches of distribution A.");
ABSL_FLAG(int, b_batches, 320,
          "Stream batches of distribution B (drift, retraining and recovery "
          "happen during them).");
ABSL_FLAG(double, rate, 4, "Stream batches per second (the traffic's pace).");
ABSL_FLAG(absl::Duration, phase_timeout, absl::Minutes(4),
          "Longest wait for a training run or a deployment.");

namespace {

namespace v1 = continuum::v1;

absl::Time g_start;

void Log(const std::string& message) {
  const double s = absl::ToDoubleSeconds(absl::Now() - g_start);
  std::printf("[%02d:%04.1f] %s\n", static_cast<int>(s) / 60,
              s - 60 * (static_cast<int>(s) / 60), message.c_str());
  std::fflush(stdout);
}

[[noreturn]] void Die(const std::string& what) {
  Log(absl::StrCat("FAILED: ", what));
  std::exit(1);
}

void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) {
    Die(absl::StrCat(what, ": ", s.error_message(), " (code ",
                     static_cast<int>(s.error_code()), ")"));
  }
}

void Progress(const std::string& label, double fraction) {
  const int width = 30;
  const int filled = static_cast<int>(fraction * width + 0.5);
  std::printf("\r    %-28s [%s%s] %3.0f%%", label.c_str(),
              std::string(filled, '#').c_str(),
              std::string(width - filled, '.').c_str(), 100 * fraction);
  if (fraction >= 1) std::printf("\n");
  std::fflush(stdout);
}

std::unique_ptr<grpc::ClientContext> Context(
    absl::Duration timeout = absl::Seconds(30)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx->AddMetadata("x-continuum-actor", "demo");
  return ctx;
}

// The KEY=VALUE lines of the endpoints file (empty if it cannot be read:
// the missing entries are named when they are looked up).
std::map<std::string, std::string> ReadEndpoints(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return continuum::ctl::ParseEndpoints(text.str());
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Clients {
  std::unique_ptr<v1::CollectorService::Stub> collector;
  std::unique_ptr<v1::RegistryService::Stub> registry;
  std::unique_ptr<v1::InferenceService::Stub> inference;
  std::unique_ptr<v1::DriftService::Stub> drift;
  std::unique_ptr<v1::TrainerService::Stub> trainer;
};

// One point of the timeline.
struct Point {
  double t = 0;
  int batch = 0;
  std::string distribution;
  double accuracy = 0;
  int64_t version = 0;
  std::string roles;
};

// Events marked on the chart and listed in the summary.
struct Event {
  double t = 0;
  std::string what;
};

// A version's accuracy on held-out rows of distribution A (the test
// split's originals, never logged), measured when it first answers.
struct Retention {
  double t = 0;
  int64_t version = 0;
  double accuracy = 0;
};

// Chart labels in lanes above the data, so that none overlaps another:
// each label takes the lowest lane whose last label ends before it starts
// (widths estimated from the font); with every lane taken, only its number
// is shown (the summary lists every event by number).
class LabelLanes {
 public:
  LabelLanes(double x_range, int lanes) : x_range_(x_range), ends_(lanes, -1e30) {}

  // The lane for a label of `chars` characters at `x`, or -1 for none.
  int Place(double x, int chars) {
    // 1200 px wide, about 1100 px of plot, about 6 px per character of an
    // 8-point font, plus a margin.
    const double width = (chars * 6.0 + 12) / 1100.0 * x_range_;
    for (size_t lane = 0; lane < ends_.size(); ++lane) {
      if (ends_[lane] < x) {
        ends_[lane] = x + width;
        return static_cast<int>(lane);
      }
    }
    return -1;
  }

 private:
  double x_range_;
  std::vector<double> ends_;
};

class Demo {
 public:
  explicit Demo(Clients c) : c_(std::move(c)) {}

  void Run();

 private:
  void Setup();
  void IngestLabelled(const continuum::data::LabeledImages& images, int from,
                      int count, const std::string& prefix);
  v1::Run TriggerAndWait(v1::RunTrigger trigger, const std::string& reason);
  v1::Run WaitRun(const std::string& name);
  int64_t ProductionVersion();
  void WaitServed(int64_t version);
  // Streams `batches` batches of `images` starting at `offset`; returns the
  // accuracy of the last 5 batches.
  double Stream(const continuum::data::LabeledImages& images, int offset,
                int batches, const std::string& distribution);
  void BadCandidate(const continuum::data::LabeledImages& recent);
  // Measures `version` (pinned) on the held-out A rows, not logged.
  void MeasureHeldOutA(int64_t version);
  void WriteChart(const std::string& dir);
  void WriteReport();
  void Mark(const std::string& what) {
    events_.push_back({absl::ToDoubleSeconds(absl::Now() - g_start), what});
    Log(what);
  }

  Clients c_;
  const std::string model_ = absl::GetFlag(FLAGS_model);
  std::vector<Point> points_;
  std::vector<Event> events_;
  std::vector<Retention> retention_;
  // Held-out rows of A: the first 1000 images of the test split.
  continuum::data::LabeledImages held_out_a_;
  std::map<std::string, std::string> numbers_;
  // Outcome reports given up on (the record never reached the collector).
  int64_t outcomes_dropped_ = 0;
  int batch_index_ = 0;
  // The stable version last seen, and every version that answered.
  int64_t last_version_ = 0;
  std::set<int64_t> answered_;
  int64_t seen_alert_ = 0;  // The highest alert sequence shown.
  // The state each run was last shown in.
  std::map<std::string, v1::RunState> run_states_;
};

void Demo::Setup() {
  {
    v1::CreateDatasetRequest req;
    req.set_dataset_id(model_);
    v1::DatasetSchema* schema = req.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(784);
    schema->set_label_kind(v1::LABEL_KIND_CLASS);
    schema->set_num_classes(10);
    v1::CreateDatasetResponse res;
    grpc::Status s = c_.collector->CreateDataset(Context().get(), req, &res);
    if (s.error_code() != grpc::ALREADY_EXISTS) Check(s, "CreateDataset");
  }
  {
    v1::RegisterModelRequest req;
    req.set_model_id(model_);
    v1::Model* m = req.mutable_model();
    m->set_description("Fashion-MNIST classifier (continuum demo)");
    m->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m->mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m->mutable_spec()->set_input_dim(784);
    m->mutable_spec()->set_output_dim(10);
    m->mutable_spec()->add_hidden_sizes(128);
    // Canary: 50 % for 10 s, then everything.
    v1::CanaryStep* step = m->mutable_rollout_plan()->mutable_canary()->add_steps();
    step->set_percent(50);
    step->mutable_hold_duration()->set_seconds(10);
    m->mutable_rollout_plan()->mutable_canary()->add_steps()->set_percent(100);
    // Retention: the demo's rotated images share little with the originals,
    // and its retention sample of older held-out rows is small (about 150
    // of the cold start's 3000 rows), so one row moves the accuracy by
    // most of a point. It allows 10 points and +150 % loss (defaults 3 and
    // 50 %); the chart's held-out A line shows what each version kept.
    m->mutable_validation_policy()->set_max_retention_accuracy_drop_points(10);
    m->mutable_validation_policy()->set_max_retention_loss_increase_percent(
        150);
    v1::RegisterModelResponse res;
    grpc::Status s = c_.registry->RegisterModel(Context().get(), req, &res);
    if (s.error_code() != grpc::ALREADY_EXISTS) Check(s, "RegisterModel");
  }
  {
    v1::ConfigureTrainingRequest req;
    v1::TrainingConfig* cfg = req.mutable_config();
    cfg->set_name(absl::StrCat("models/", model_, "/trainingConfig"));
    cfg->set_dataset(model_);
    cfg->set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
    cfg->set_epochs(3);
    cfg->mutable_optimizer()->set_learning_rate(1e-3);
    cfg->mutable_guards()->set_replay_ratio(0.5);
    cfg->set_seed(7);
    v1::ConfigureTrainingResponse res;
    Check(c_.trainer->ConfigureTraining(Context().get(), req, &res),
          "ConfigureTraining");
  }
  {
    v1::ConfigureMonitorRequest req;
    v1::Monitor* m = req.mutable_monitor();
    m->set_name(absl::StrCat("models/", model_, "/monitor"));
    v1::DetectorConfig* d = m->add_detectors();
    d->set_id("error_adwin");
    d->set_detector("adwin");
    d->set_signal(v1::MONITORED_SIGNAL_ERROR_RATE);
    (*d->mutable_params())["delta"] = "0.002";
    // ADWIN flags the change at once (an alert, no action: too few
    // labelled rows of the new distribution exist yet); an error rate
    // above 25 % over 1500 outcomes of a version is a performance alert
    // that asks the trainer for a run, by then on 1500 new rows.
    // Reference tests of the inputs against the training reference in the
    // deployed bundle, every 2 s on the last 400 images: a DATA alert when
    // at least 30 % of the pixels drift (many border pixels are blank in
    // both distributions and cannot drift); alert only: no rule for DATA.
    v1::ReferenceTestConfig* reference = m->mutable_reference_tests();
    reference->mutable_interval()->set_seconds(2);
    reference->set_window_size(400);
    reference->set_min_samples(200);
    reference->set_drifted_feature_share(0.3);
    m->mutable_performance()->set_max_error_rate(0.25);
    m->mutable_performance()->set_window_size(1500);
    m->mutable_performance()->set_min_outcomes(1500);
    v1::ActionRule* concept_rule = m->mutable_actions()->add_rules();
    concept_rule->set_alert_type(v1::ALERT_TYPE_CONCEPT);
    concept_rule->set_action(v1::DRIFT_ACTION_NONE);
    v1::ActionRule* rule = m->mutable_actions()->add_rules();
    rule->set_alert_type(v1::ALERT_TYPE_PERFORMANCE);
    rule->set_min_severity(v1::ALERT_SEVERITY_WARNING);
    rule->set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
    m->mutable_actions()->mutable_cooldown()->set_seconds(5);
    v1::ConfigureMonitorResponse res;
    Check(c_.drift->ConfigureMonitor(Context().get(), req, &res),
          "ConfigureMonitor");
  }
  Log(absl::StrCat("data set '", model_, "' (784 features, 10 classes), ",
                   "model registered (canary 50 % for 10 s, then 100 %; "
                   "retention gates at 10 points and +150 % loss), "
                   "training: incremental, 3 epochs, replay 0.5; drift: ADWIN "
                   "on errors (alert), error rate > 25 % over 1500 outcomes "
                   "-> retrain (cool-down 5 s); reference tests of the "
                   "inputs (KS, PSI) every 2 s on the last 400 images, "
                   "data-set drift from 30 % of the pixels (alert)"));
}

void Demo::IngestLabelled(const continuum::data::LabeledImages& images,
                          int from, int count, const std::string& prefix) {
  const int per_call = 500;
  for (int done = 0; done < count; done += per_call) {
    v1::IngestBatchRequest req;
    req.set_dataset(model_);
    const int n = std::min(per_call, count - done);
    const int64_t now = absl::ToUnixMicros(absl::Now());
    for (int i = 0; i < n; ++i) {
      const int r = from + done + i;
      v1::Record* rec = req.add_records();
      rec->set_id(absl::StrCat(prefix, r));
      rec->mutable_event_time()->set_seconds(now / 1000000);
      rec->mutable_features()->Assign(
          images.pixels.begin() + static_cast<size_t>(r) * 784,
          images.pixels.begin() + static_cast<size_t>(r + 1) * 784);
      rec->mutable_label()->set_class_index(images.labels[r]);
    }
    v1::IngestBatchResponse res;
    Check(c_.collector->IngestBatch(Context().get(), req, &res), "IngestBatch");
    Progress("ingesting", static_cast<double>(done + n) / count);
  }
}

v1::Run Demo::WaitRun(const std::string& name) {
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_phase_timeout);
  v1::GetRunRequest req;
  req.set_name(name);
  int last_epoch = -1;
  while (absl::Now() < deadline) {
    v1::GetRunResponse res;
    Check(c_.trainer->GetRun(Context().get(), req, &res), "GetRun");
    const v1::Run& run = res.run();
    if (run.state() != v1::RUN_STATE_QUEUED &&
        run.state() != v1::RUN_STATE_RUNNING) {
      return run;
    }
    const v1::RunProgress& p = run.progress();
    if (p.total_epochs() > 0 && p.epoch() != last_epoch) {
      last_epoch = p.epoch();
    }
    if (p.total_steps() > 0) {
      Progress(absl::StrFormat("training %s", v1::RunPhase_Name(p.phase())),
               std::min(1.0, static_cast<double>(p.step()) / p.total_steps()));
    }
    absl::SleepFor(absl::Milliseconds(500));  // Polling a remote run.
  }
  Die(absl::StrCat("run ", name, " did not finish in time"));
}

v1::Run Demo::TriggerAndWait(v1::RunTrigger trigger, const std::string& reason) {
  v1::TriggerRunRequest req;
  req.set_parent(absl::StrCat("models/", model_));
  req.set_trigger(trigger);
  req.set_reason(reason);
  v1::TriggerRunResponse res;
  Check(c_.trainer->TriggerRun(Context().get(), req, &res), "TriggerRun");
  Mark(absl::StrCat("training run ", res.run().name(), " (", reason, ")"));
  return WaitRun(res.run().name());
}

int64_t Demo::ProductionVersion() {
  v1::GetModelRequest req;
  req.set_name(absl::StrCat("models/", model_));
  v1::GetModelResponse res;
  Check(c_.registry->GetModel(Context().get(), req, &res), "GetModel");
  return res.model().production_version();
}

void Demo::WaitServed(int64_t version) {
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_phase_timeout);
  while (absl::Now() < deadline) {
    v1::GetModelStatusRequest req;
    req.set_model(model_);
    v1::GetModelStatusResponse res;
    if (c_.inference->GetModelStatus(Context().get(), req, &res).ok() &&
        res.models_size() == 1) {
      for (const auto& v : res.models(0).versions()) {
        if (v.version() == version &&
            v.state() == v1::SERVING_STATE_AVAILABLE) {
          return;
        }
      }
    }
    absl::SleepFor(absl::Milliseconds(200));  // Polling a remote pod.
  }
  Die(absl::StrCat("the inference pod did not load version ", version));
}

double Demo::Stream(const continuum::data::LabeledImages& images, int offset,
                    int batches, const std::string& distribution) {
  const int batch = absl::GetFlag(FLAGS_batch);
  const absl::Duration interval =
      absl::Seconds(1.0 / std::max(0.1, absl::GetFlag(FLAGS_rate)));
  const absl::Time begin = absl::Now();
  std::vector<double> recent;
  for (int b = 0; b < batches; ++b) {
    // Traffic at a steady pace, as production would send it.
    const absl::Time due = begin + b * interval;
    if (absl::Now() < due) absl::SleepFor(due - absl::Now());
    const int first = offset + b * batch;
    v1::PredictRequest req;
    req.set_model(model_);
    req.mutable_inputs()->add_shape(batch);
    req.mutable_inputs()->add_shape(784);
    req.mutable_inputs()->mutable_data()->Assign(
        images.pixels.begin() + static_cast<size_t>(first) * 784,
        images.pixels.begin() + static_cast<size_t>(first + batch) * 784);
    req.set_force_log(true);
    req.set_routing_key(absl::StrCat("user-", b % 7));
    const std::string prefix = absl::StrCat(distribution, "-", first, "-");
    for (int i = 0; i < batch; ++i) {
      req.add_record_ids(absl::StrCat(prefix, i));
    }
    v1::PredictResponse res;
    Check(c_.inference->Predict(Context().get(), req, &res), "Predict");
    // Outcomes: labels to the collector (for training), right/wrong to the
    // drift service, both by record id.
    int correct = 0;
    v1::ObserveRequest observe;
    v1::ObservationBatch* ob = observe.mutable_batch();
    ob->set_model(model_);
    ob->set_version(res.version().version());
    ob->set_kind(v1::OBSERVATION_KIND_OUTCOME);
    ob->set_num_rows(batch);
    for (int i = 0; i < batch; ++i) {
      const int label = images.labels[first + i];
      const bool right = res.predicted_classes(i) == label;
      correct += right;
      v1::ObservedOutcome* o = ob->add_outcomes();
      o->set_row(i);
      o->set_correct(right);
      ob->add_ids(absl::StrCat(prefix, i));
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      v1::ObserveResponse ores;
      auto writer = c_.drift->Observe(&ctx, &ores);
      writer->Write(observe);
      writer->WritesDone();
      Check(writer->Finish(), "Observe");
    }
    // The pod logs rows asynchronously: report each outcome once its record
    // is in the collector (retrying NOT_FOUND briefly).
    for (int i = 0; i < batch; ++i) {
      v1::ReportOutcomeRequest out;
      out.set_dataset(model_);
      out.set_id(absl::StrCat(prefix, i));
      out.mutable_label()->set_class_index(images.labels[first + i]);
      v1::ReportOutcomeResponse ores;
      bool reported = false;
      for (int attempt = 0; attempt < 50 && !reported; ++attempt) {
        grpc::Status s = c_.collector->ReportOutcome(Context().get(), out, &ores);
        if (s.error_code() != grpc::NOT_FOUND) {
          Check(s, "ReportOutcome");
          reported = true;
        } else {
          absl::SleepFor(absl::Milliseconds(20));  // The record is on its way.
        }
      }
      if (!reported) {
        // The pod's logged row never reached the collector within a second:
        // the outcome is lost to training. Counted and reported, and
        // tests/demo_test.sh fails on any.
        if (outcomes_dropped_++ == 0) {
          Log(absl::StrCat("outcome of ", out.id(),
                           " dropped: its record is not in the collector "
                           "after 50 tries (more are counted in the summary)"));
        }
      }
    }
    const double accuracy = static_cast<double>(correct) / batch;
    recent.push_back(accuracy);
    if (recent.size() > 5) recent.erase(recent.begin());
    const int64_t version = res.version().version();
    if (!answered_.count(version)) {
      answered_.insert(version);
      if (!answered_.empty() && version != *answered_.begin()) {
        Mark(absl::StrCat("version ", version, " answers for the first time (",
                          v1::ServingRole_Name(res.role()), ")"));
      }
      MeasureHeldOutA(version);
    }
    if (res.role() == v1::SERVING_ROLE_STABLE && version != last_version_) {
      if (last_version_ != 0) {
        Mark(absl::StrCat("version ", version, " is now the stable version"));
      }
      last_version_ = version;
    }
    points_.push_back({absl::ToDoubleSeconds(absl::Now() - g_start),
                       ++batch_index_, distribution, accuracy, version,
                       v1::ServingRole_Name(res.role())});
    if (b % 5 == 4) {
      double mean = 0;
      for (double a : recent) mean += a;
      Log(absl::StrFormat("stream %s batch %3d: accuracy %.1f %% (last 5: "
                          "%.1f %%), version %d",
                          distribution, b + 1, 100 * accuracy,
                          100 * mean / recent.size(), version));
    }
    // Drift alerts and runs, as they happen.
    v1::ListAlertsRequest alerts;
    alerts.set_parent(absl::StrCat("models/", model_));
    v1::ListAlertsResponse ares;
    if (c_.drift->ListAlerts(Context().get(), alerts, &ares).ok()) {
      // Newest first: the new ones, oldest first.
      for (int i = ares.alerts_size() - 1; i >= 0; --i) {
        const v1::Alert& a = ares.alerts(i);
        if (a.sequence() <= seen_alert_) continue;
        seen_alert_ = a.sequence();
        std::string type = v1::AlertType_Name(a.type());
        absl::StrReplaceAll({{"ALERT_TYPE_", ""}}, &type);
        std::string detail;
        if (a.has_reference_test()) {
          std::set<int> tested;
          for (const v1::FeatureTestResult& r : a.reference_test().results()) {
            tested.insert(r.feature_index());
          }
          detail = absl::StrFormat(" (%d of %d features drifted)",
                                   a.reference_test().drifted_features(),
                                   static_cast<int>(tested.size()));
        }
        Mark(absl::StrCat("drift alert: ", type, " by ", a.detector(),
                          detail, " on version ", a.version(), "; action ",
                          v1::DriftAction_Name(a.action_result().action()),
                          a.action_result().succeeded() ? " (done)" : ""));
      }
    }
    v1::ListRunsRequest runs;
    runs.set_parent(absl::StrCat("models/", model_));
    v1::ListRunsResponse rres;
    if (c_.trainer->ListRuns(Context().get(), runs, &rres).ok()) {
      for (const v1::Run& run : rres.runs()) {
        // Each run once when first seen, and once more when it ends, with
        // the registry's decision.
        const bool ended = run.state() != v1::RUN_STATE_QUEUED &&
                           run.state() != v1::RUN_STATE_RUNNING;
        auto [it, is_new] = run_states_.emplace(run.name(), run.state());
        if (!is_new && (it->second == run.state() || !ended)) continue;
        it->second = run.state();
        std::string detail;
        if (ended && run.has_decision()) {
          detail = absl::StrCat(": ", run.decision().summary());
        } else if (ended && !run.error().message().empty()) {
          detail = absl::StrCat(": ", run.error().message());
        }
        Mark(absl::StrCat("trainer: run ", run.name(), " ",
                          v1::RunTrigger_Name(run.trigger()), " is ",
                          v1::RunState_Name(run.state()), detail));
      }
    }
  }
  double mean = 0;
  for (double a : recent) mean += a;
  return recent.empty() ? 0 : mean / recent.size();
}

void Demo::BadCandidate(const continuum::data::LabeledImages& recent) {
  // Untrained weights, evaluated honestly on recent labelled rows beside
  // the production version's numbers: the gates must reject it.
  v1::ArtifactManifest manifest;
  manifest.set_model(model_);
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(784);
  manifest.mutable_spec()->set_output_dim(10);
  manifest.mutable_spec()->add_hidden_sizes(128);
  auto bundle = continuum::model::Model::InitBundle(manifest, 12345);
  if (!bundle.ok()) Die(std::string(bundle.status().message()));
  auto bad = continuum::model::Model::FromBundle(*bundle);
  if (!bad.ok()) Die(std::string(bad.status().message()));
  const int n = std::min<int>(1000, recent.size());
  std::vector<float> out;
  if (!(*bad)->Forward(recent.pixels.data(), n, &out).ok()) Die("forward");
  // Accuracy and cross-entropy of a row-major [n, 10] probability table.
  auto score = [&](const float* probs, int* right, double* loss) {
    *right = 0;
    *loss = 0;
    for (int r = 0; r < n; ++r) {
      const float* row = probs + r * 10;
      *right += (std::max_element(row, row + 10) - row) == recent.labels[r];
      *loss -= std::log(std::max(1e-12f, row[recent.labels[r]]));
    }
    *loss /= n;
  };
  int correct = 0;
  double loss = 0;
  score(out.data(), &correct, &loss);
  // The production version's accuracy on the same rows, through the pod:
  // evaluation traffic, not logged (it would store these rows again).
  v1::PredictRequest req;
  req.set_model(model_);
  req.set_log(v1::LOG_POLICY_NEVER);
  req.mutable_inputs()->add_shape(n);
  req.mutable_inputs()->add_shape(784);
  req.mutable_inputs()->mutable_data()->Assign(recent.pixels.begin(),
                                               recent.pixels.begin() + n * 784);
  v1::PredictResponse res;
  Check(c_.inference->Predict(Context().get(), req, &res), "Predict");
  int prod_correct = 0;
  double prod_loss = 0;
  score(res.outputs().data().data(), &prod_correct, &prod_loss);
  auto bytes = continuum::model::SerializeBundle(*bundle);
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-continuum-actor", "demo");
  v1::UploadVersionResponse up;
  auto writer = c_.registry->UploadVersion(&ctx, &up);
  v1::UploadVersionRequest u;
  u.mutable_metadata()->set_model(model_);
  u.mutable_metadata()->set_sha256(continuum::store::Sha256Hex(*bytes));
  v1::Evaluation* e =
      u.mutable_metadata()->mutable_validation_report()->add_evaluations();
  e->set_evaluation_set("held_out");
  e->mutable_candidate()->set_accuracy(static_cast<double>(correct) / n);
  e->mutable_candidate()->set_loss(loss);
  e->mutable_candidate()->set_sample_count(n);
  e->mutable_baseline()->set_accuracy(static_cast<double>(prod_correct) / n);
  e->mutable_baseline()->set_loss(prod_loss);
  e->mutable_baseline()->set_sample_count(n);
  writer->Write(u);
  u.Clear();
  u.set_chunk(*bytes);
  writer->Write(u);
  writer->WritesDone();
  Check(writer->Finish(), "UploadVersion (bad candidate)");
  const v1::Version& v = up.version();
  std::string gates;
  for (const auto& g : v.validation().gates()) {
    if (!g.passed() && !g.skipped()) {
      absl::StrAppend(&gates, " ", g.gate(), " ", g.observed(), " vs ", g.threshold(), ";");
    }
  }
  Mark(absl::StrFormat(
      "bad candidate version %d (accuracy %.1f %% vs production %.1f %%): %s%s",
      v.version(), 100.0 * correct / n, 100.0 * prod_correct / n,
      v1::VersionState_Name(v.state()), gates));
  numbers_["bad candidate state"] = v1::VersionState_Name(v.state());
}

void Demo::MeasureHeldOutA(int64_t version) {
  const int n = static_cast<int>(held_out_a_.size());
  const int per_call = 250;
  int correct = 0;
  for (int at = 0; at < n; at += per_call) {
    const int rows = std::min(per_call, n - at);
    v1::PredictRequest req;
    req.set_model(model_);
    req.set_version(version);
    // Evaluation traffic: neither training data nor drift observations.
    req.set_log(v1::LOG_POLICY_NEVER);
    req.mutable_inputs()->add_shape(rows);
    req.mutable_inputs()->add_shape(784);
    req.mutable_inputs()->mutable_data()->Assign(
        held_out_a_.pixels.begin() + static_cast<size_t>(at) * 784,
        held_out_a_.pixels.begin() + static_cast<size_t>(at + rows) * 784);
    v1::PredictResponse res;
    grpc::Status s = c_.inference->Predict(Context().get(), req, &res);
    if (!s.ok()) {
      // The pod may have dropped the version already (a rolled-back
      // canary): no point, said so.
      Log(absl::StrCat("held-out A accuracy of version ", version,
                       " not measured: ", s.error_message()));
      return;
    }
    if (res.logged()) Die("an evaluation request (log NEVER) was logged");
    for (int i = 0; i < rows; ++i) {
      correct += res.predicted_classes(i) == held_out_a_.labels[at + i];
    }
  }
  const double accuracy = static_cast<double>(correct) / n;
  retention_.push_back(
      {absl::ToDoubleSeconds(absl::Now() - g_start), version, accuracy});
  numbers_[absl::StrCat("held-out A accuracy, version ", version)] =
      absl::StrFormat("%.1f %%", 100 * accuracy);
  Log(absl::StrFormat("version %d on %d held-out images of A (not logged): "
                      "%.1f %%",
                      version, n, 100 * accuracy));
}

void Demo::WriteChart(const std::string& dir) {
  // One data file per serving version, so that stable and canary batches
  // draw two lines instead of one zig-zag.
  double t_max = 1;
  for (const Point& p : points_) t_max = std::max(t_max, p.t);
  for (int64_t version : answered_) {
    std::ofstream f(absl::StrCat(dir, "/timeline_v", version, ".csv"));
    for (const Point& p : points_) {
      if (p.version == version) f << p.t << "," << p.accuracy << "\n";
    }
  }
  {
    std::ofstream f(dir + "/held_out_a.csv");
    for (const Retention& r : retention_) {
      f << r.t << "," << r.version << "," << r.accuracy << "\n";
    }
  }
  std::ofstream gp(dir + "/accuracy.gp");
  gp << "set terminal png size 1200,650 noenhanced\nset output '" << dir
     << "/accuracy.png'\nset datafile separator ','\n"
        "set title 'Continuum demo: live-stream accuracy per serving version, "
        "and each version on held-out A (forgetting)'\n"
        "set xlabel 'seconds since start'\nset ylabel 'accuracy'\n"
     << "set xrange [0:" << t_max * 1.02 << "]\n"
        "set yrange [0:1.42]\nset ytics 0,0.1,1\nset key bottom right\n"
        "set grid\n";
  constexpr int kLanes = 8;
  LabelLanes lanes(t_max * 1.02, kLanes);
  int number = 0;
  for (const Event& e : events_) {
    ++number;
    const bool marked =
        e.what.find("drift alert") != std::string::npos ||
        e.what.find("answers for the first time") != std::string::npos ||
        e.what.find("stable version") != std::string::npos ||
        e.what.find("switches to distribution") != std::string::npos ||
        e.what.find("training run") != std::string::npos;
    if (!marked) continue;
    std::string text = absl::StrCat(number, " ", e.what.substr(0, 36));
    absl::StrReplaceAll({{"'", ""}}, &text);
    int lane = lanes.Place(e.t, static_cast<int>(text.size()));
    if (lane < 0) {
      text = absl::StrCat(number);
      lane = lanes.Place(e.t, static_cast<int>(text.size()));
    }
    gp << "set arrow from " << e.t << ",0 to " << e.t
       << ",1 nohead dt 2 lc rgb '#999999'\n";
    if (lane >= 0) {
      gp << "set label " << number << " '" << text << "' at " << e.t << ","
         << 1.03 + 0.05 * lane << " font ',8'\n";
    }
  }
  gp << "plot ";
  bool first = true;
  for (int64_t version : answered_) {
    if (!first) gp << ", \\\n     ";
    first = false;
    gp << "'" << dir << "/timeline_v" << version
       << ".csv' using 1:2 with linespoints lc " << version % 8 + 1
       << " pt 7 ps 0.4 title 'version " << version << ", live stream'";
  }
  if (!retention_.empty()) {
    gp << ", \\\n     '" << dir
       << "/held_out_a.csv' using 1:3 with linespoints lc rgb 'black' lw 2 "
          "pt 5 ps 1.5 title 'each version on held-out A (not logged)', \\\n"
          "     '' using 1:3:(sprintf('v%d', $2)) with labels offset 0,1 "
          "notitle";
  }
  gp << "\n";
}

void Demo::WriteReport() {
  const std::string dir = absl::GetFlag(FLAGS_out_dir);
  std::system(absl::StrCat("mkdir -p '", dir, "'").c_str());
  {
    std::ofstream csv(dir + "/timeline.csv");
    csv << "seconds,batch,distribution,accuracy,version,role\n";
    for (const Point& p : points_) {
      csv << p.t << "," << p.batch << "," << p.distribution << ","
          << p.accuracy << "," << p.version << "," << p.roles << "\n";
    }
    std::ofstream events(dir + "/events.csv");
    for (const Event& e : events_) events << e.t << ",\"" << e.what << "\"\n";
  }
  bool chart = false;
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    WriteChart(dir);
    chart = std::system(absl::StrCat("gnuplot '", dir, "/accuracy.gp'").c_str()) == 0;
  }
  numbers_["outcome reports dropped"] = absl::StrCat(outcomes_dropped_);
  std::ofstream md(dir + "/summary.md");
  md << "# Continuum demo\n\n";
  md << "| figure | value |\n| --- | --- |\n";
  for (const auto& [k, v] : numbers_) md << "| " << k << " | " << v << " |\n";
  md << "\n## Events\n\n| # | seconds | event |\n| --- | --- | --- |\n";
  int number = 0;
  for (const Event& e : events_) {
    md << "| " << ++number << " | " << absl::StrFormat("%.1f", e.t) << " | "
       << e.what << " |\n";
  }
  md << "\n" << (chart ? "![accuracy](accuracy.png)\n"
                       : "(gnuplot not installed: no chart)\n");
  Log(absl::StrCat("report: ", dir, "/summary.md",
                   chart ? absl::StrCat(", ", dir, "/accuracy.png") : ""));
}

void Demo::Run() {
  auto train = continuum::data::LoadFashionMnist(
      continuum::data::FashionMnistSplit::kTrain);
  if (!train.ok()) Die(std::string(train.status().message()));
  const int cold = absl::GetFlag(FLAGS_cold_start_rows);
  const int batch = absl::GetFlag(FLAGS_batch);
  // The stream reads distinct rows of the training set, and the bad
  // candidate 1000 rows from the last 10 B batches on: refuse sizes that
  // would read past its end (they once read garbage labels).
  {
    const int64_t a = absl::GetFlag(FLAGS_a_batches);
    const int64_t b = absl::GetFlag(FLAGS_b_batches);
    const int64_t rows = static_cast<int64_t>(train->labels.size());
    const int64_t needed =
        std::max<int64_t>(cold + (a + b) * batch, cold + (a + b - 10) * batch + 1000);
    if (cold < 1 || batch < 1 || a < 5 || b < 10) {
      Die("--cold_start_rows and --batch must be at least 1, --a_batches at "
          "least 5 and --b_batches at least 10");
    }
    if (needed > rows) {
      Die(absl::StrCat("--cold_start_rows=", cold, ", --a_batches=", a,
                       " and --b_batches=", b, " with --batch=", batch,
                       " need ", needed, " images, but the training set has ",
                       rows, ": lower them"));
    }
  }
  Setup();
  const continuum::data::LabeledImages rotated =
      continuum::data::Rotate90(*train);
  auto test = continuum::data::LoadFashionMnist(
      continuum::data::FashionMnistSplit::kTest, 1000);
  if (!test.ok()) Die(std::string(test.status().message()));
  held_out_a_ = *std::move(test);

  Log(absl::StrCat("cold start: ingesting ", cold,
                   " labelled images of distribution A (originals)"));
  IngestLabelled(*train, 0, cold, "a-train-");
  v1::Run first = TriggerAndWait(v1::RUN_TRIGGER_MANUAL, "cold start on A");
  if (first.state() != v1::RUN_STATE_SUCCEEDED) {
    std::string gates;
    for (const auto& g : first.decision().gates()) {
      if (!g.passed() && !g.skipped()) {
        absl::StrAppend(&gates, " ", g.gate(), " on ", g.evaluation_set(), ": ",
                        g.observed(), " vs ", g.threshold(), ";");
      }
    }
    Die(absl::StrCat("the cold-start run ended ", v1::RunState_Name(first.state()),
                     ": ", first.error().message(), gates));
  }
  Mark(absl::StrFormat("cold start done: version %d, held-out accuracy %.1f %%",
                       first.candidate_version().version(),
                       100 * first.candidate_metrics().accuracy()));
  numbers_["cold start held-out accuracy"] =
      absl::StrFormat("%.1f %%", 100 * first.candidate_metrics().accuracy());
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_phase_timeout);
  while (ProductionVersion() != first.candidate_version().version()) {
    if (absl::Now() > deadline) Die("the first version never reached production");
    absl::SleepFor(absl::Milliseconds(200));  // The rollout runs remotely.
  }
  WaitServed(first.candidate_version().version());
  Mark(absl::StrCat("version ", first.candidate_version().version(),
                    " in production and loaded by the inference pod"));

  // The stream: A first, then B.
  const int a_batches = absl::GetFlag(FLAGS_a_batches);
  const double acc_a = Stream(*train, cold, a_batches, "A");
  numbers_["accuracy on A before the drift (last 5 batches)"] =
      absl::StrFormat("%.1f %%", 100 * acc_a);
  Mark("the stream switches to distribution B (images rotated by 90 degrees)");
  const int b_offset = cold + a_batches * batch;
  const int b_batches = absl::GetFlag(FLAGS_b_batches);
  // First B batches show the drop; the rest show detection and recovery.
  const double acc_b_early = Stream(rotated, b_offset, 5, "B");
  numbers_["accuracy on B right after the switch"] =
      absl::StrFormat("%.1f %%", 100 * acc_b_early);
  const double acc_b = Stream(rotated, b_offset + 5 * batch, b_batches - 5, "B");
  numbers_["accuracy on B at the end (last 5 batches)"] =
      absl::StrFormat("%.1f %%", 100 * acc_b);
  numbers_["final version"] = absl::StrCat(last_version_);

  // The most recent B images the stream sent, for the bad candidate's
  // evaluation.
  continuum::data::LabeledImages recent = rotated;
  const int last = b_offset + (b_batches - 10) * batch;
  recent.pixels.assign(rotated.pixels.begin() + static_cast<size_t>(last) * 784,
                       rotated.pixels.begin() + static_cast<size_t>(last + 1000) * 784);
  recent.labels.assign(rotated.labels.begin() + last,
                       rotated.labels.begin() + last + 1000);
  BadCandidate(recent);
  WriteReport();
  Log(absl::StrFormat("done: accuracy A %.1f %% -> B %.1f %% after the switch "
                      "-> %.1f %% after retraining",
                      100 * acc_a, 100 * acc_b_early, 100 * acc_b));
}

}  // namespace

bool IsDemoFlagFile(absl::string_view file) {
  return absl::StrContains(file, "tools/demo/");
}

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsDemoFlagFile;
  usage_config.contains_helpshort_flags = IsDemoFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "The continuous-learning loop on Fashion-MNIST against running "
      "services.\nUsage: continuum-demo --endpoints=FILE [--out_dir=DIR] "
      "(deploy/local/demo starts the services and runs it)");
  absl::ParseCommandLine(argc, argv);
  g_start = absl::Now();
  const std::string path = absl::GetFlag(FLAGS_endpoints);
  if (path.empty()) {
    std::fprintf(stderr, "usage: continuum-demo --endpoints=FILE (written by "
                         "deploy/local/continuum-up); see deploy/local/demo\n");
    return 2;
  }
  std::map<std::string, std::string> ep = ReadEndpoints(path);
  // With CONTINUUM_TLS_CA (continuum-up --tls): mutual TLS with the
  // client certificate it names.
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (ep.count("CONTINUUM_TLS_CA") > 0) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileOrDie(ep["CONTINUUM_TLS_CA"]);
    if (ep.count("CONTINUUM_TLS_CERT") > 0) {
      ssl.pem_cert_chain = ReadFileOrDie(ep["CONTINUUM_TLS_CERT"]);
      ssl.pem_private_key = ReadFileOrDie(ep["CONTINUUM_TLS_KEY"]);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = [&](const std::string& service) {
    auto it = ep.find("CONTINUUM_" + service);
    if (it == ep.end()) {
      std::fprintf(stderr, "%s has no CONTINUUM_%s\n", path.c_str(),
                   service.c_str());
      std::exit(2);
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    return grpc::CreateCustomChannel(it->second, credentials, args);
  };
  Clients c;
  c.collector = v1::CollectorService::NewStub(channel("COLLECTOR"));
  c.registry = v1::RegistryService::NewStub(channel("REGISTRY"));
  c.inference = v1::InferenceService::NewStub(channel("INFERENCE"));
  c.drift = v1::DriftService::NewStub(channel("DRIFT"));
  c.trainer = v1::TrainerService::NewStub(channel("TRAINER"));
  Demo demo(std::move(c));
  demo.Run();
  return 0;
}
