#include "tools/continuumctl/trainer_commands.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <memory>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "tools/continuumctl/cli_util.h"
#include "tools/continuumctl/record_parsing.h"

ABSL_DECLARE_FLAG(std::string, reason);
ABSL_DECLARE_FLAG(bool, wait);
ABSL_DECLARE_FLAG(std::string, from);
ABSL_DECLARE_FLAG(std::string, to);

ABSL_FLAG(std::string, filter, "",
          "trainer runs: a filter on state, trigger, strategy, e.g. "
          "'state = RUN_STATE_FAILED'; drift alerts: on type, severity, "
          "version, detector, create_time, e.g. 'type = PERFORMANCE'; audit "
          "export: on actor, action, object, e.g. "
          "'action = \"federated.site.exclude\"'.");
ABSL_FLAG(int, epochs, 0,
          "trainer trigger: override the epochs of the run; federated start: "
          "the sites' local epochs.");
ABSL_FLAG(double, learning_rate, 0,
          "trainer trigger: override the learning rate of the run.");

namespace continuum::ctl {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kUsage[] =
    "usage: continuumctl trainer VERB ARG --target=HOST:PORT, VERB one of\n"
    "  trigger MODEL [--reason=TEXT] [--epochs=N] [--learning_rate=X] "
    "[--from=TIME] [--to=TIME] [--wait]\n"
    "  runs [MODEL] [--filter=EXPR]     (every model without MODEL)\n"
    "  run RUN | watch RUN | cancel RUN [--reason=TEXT]\n"
    "  config MODEL | pause MODEL [--reason=TEXT] | resume MODEL\n"
    "RUN is models/M/runs/N, or M/N.";

std::unique_ptr<v1::TrainerService::Stub> Stub() {
  return v1::TrainerService::NewStub(TargetChannel());
}

std::string RunName(const std::string& arg) {
  if (absl::StartsWith(arg, "models/")) return arg;
  std::string model(arg.substr(0, arg.find('/')));
  std::string number(arg.find('/') == std::string::npos
                         ? ""
                         : arg.substr(arg.find('/') + 1));
  return absl::StrCat("models/", model, "/runs/", number);
}

std::string Progress(const v1::RunProgress& p) {
  std::string line = Short(v1::RunPhase_Name(p.phase()), "RUN_PHASE_");
  if (p.phase() == v1::RUN_PHASE_TRAINING && p.total_steps() > 0) {
    absl::StrAppend(
        &line,
        absl::StrFormat(" epoch %d/%d step %d/%d loss %.4f %.0f rows/s",
                        p.epoch(), p.total_epochs(), p.step(), p.total_steps(),
                        p.loss(), p.samples_per_second()));
    if (p.has_holdout_loss()) {
      absl::StrAppend(&line, absl::StrFormat(" held-out loss %.4f", p.holdout_loss()));
    }
    if (p.has_eta()) {
      absl::StrAppend(&line, " eta ",
                      absl::FormatDuration(absl::Seconds(p.eta().seconds())));
    }
  } else if (!p.message().empty()) {
    absl::StrAppend(&line, ": ", p.message());
  }
  return line;
}

// The loss, and what else the family has: accuracy (classifiers), MASE
// and the P10-P90 coverage (forecasters).
std::string MetricsLine(const v1::Metrics& m) {
  std::string line = absl::StrFormat("loss %.4f", m.loss());
  if (m.has_accuracy()) {
    absl::StrAppend(&line, absl::StrFormat(" accuracy %.4f", m.accuracy()));
  }
  for (const char* key : {"mase", "interval_coverage"}) {
    auto it = m.extra().find(key);
    if (it != m.extra().end()) {
      absl::StrAppend(&line, absl::StrFormat(" %s %.4f", key, it->second));
    }
  }
  return line;
}

void PrintRun(const v1::Run& r) {
  std::cout << r.name() << "  " << Short(v1::RunState_Name(r.state()), "RUN_STATE_")
            << "\n  trigger     " << Short(v1::RunTrigger_Name(r.trigger()), "RUN_TRIGGER_")
            << (r.reason().empty() ? "" : absl::StrCat(": ", r.reason()))
            << "\n  strategy    "
            << Short(v1::TrainingStrategy_Name(r.strategy()), "TRAINING_STRATEGY_")
            << (r.cold_start() ? " (cold start)" : "")
            << "\n  parent      " << r.parent_version().version()
            << "\n  candidate   " << r.candidate_version().version()
            << "\n  records     train " << r.train_records() << ", replay "
            << r.replay_records() << ", held-out " << r.holdout_records()
            << ", golden " << r.golden_records()
            << "\n  progress    " << Progress(r.progress()) << "\n";
  if (r.candidate_metrics().has_loss()) {
    std::cout << "  candidate   " << MetricsLine(r.candidate_metrics()) << "\n";
  }
  if (r.production_metrics().has_loss()) {
    std::cout << "  production  " << MetricsLine(r.production_metrics())
              << "\n";
  }
  if (!r.decision().summary().empty()) {
    std::cout << "  decision    " << r.decision().summary() << "\n";
  }
  if (!r.error().message().empty()) {
    std::cout << "  error       " << r.error().message() << "\n";
  }
}

bool Final(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_REJECTED ||
         s == v1::RUN_STATE_FAILED || s == v1::RUN_STATE_CANCELLED;
}

// Streams WatchRun; exit code 0 if the run SUCCEEDED.
int Watch(v1::TrainerService::Stub& stub, const std::string& name) {
  grpc::ClientContext context;  // No deadline: a run may take hours.
  v1::WatchRunRequest request;
  request.set_name(name);
  auto reader = stub.WatchRun(&context, request);
  v1::WatchRunResponse message;
  v1::Run last;
  std::string previous;
  while (reader->Read(&message)) {
    if (message.has_run()) last = message.run();
    const std::string line = Progress(message.progress());
    if (line != previous && !Final(last.state())) std::cout << line << "\n";
    previous = line;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FailGrpc("trainer watch", s);
  PrintRun(last);
  return last.state() == v1::RUN_STATE_SUCCEEDED ? 0 : 1;
}

}  // namespace

int RunTrainerCommand(const std::vector<std::string>& args) {
  if (args.empty() || absl::GetFlag(FLAGS_target).empty()) {
    return Fail("trainer", absl::InvalidArgumentError(kUsage));
  }
  const std::string& verb = args[0];
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  const std::string reason = absl::GetFlag(FLAGS_reason);

  if (verb == "runs") {
    if (args.size() > 2) return Fail("trainer", absl::InvalidArgumentError(kUsage));
    v1::ListRunsRequest request;
    request.set_parent(args.size() == 2 ? absl::StrCat("models/", args[1])
                                        : "models/-");
    request.set_filter(absl::GetFlag(FLAGS_filter));
    request.set_page_size(100);
    v1::ListRunsResponse response;
    grpc::Status s = stub->ListRuns(&context, request, &response);
    if (!s.ok()) return FailGrpc("trainer runs", s);
    if (JsonOutput()) return PrintJson(response);
    std::vector<std::vector<std::string>> rows = {
        {"RUN", "STATE", "TRIGGER", "PHASE", "CANDIDATE", "ACCURACY",
         "CREATED", "REASON / ERROR"}};
    for (const v1::Run& r : response.runs()) {
      rows.push_back(
          {r.name(), Short(v1::RunState_Name(r.state()), "RUN_STATE_"),
           Short(v1::RunTrigger_Name(r.trigger()), "RUN_TRIGGER_"),
           Short(v1::RunPhase_Name(r.progress().phase()), "RUN_PHASE_"),
           r.candidate_version().version() > 0
               ? absl::StrCat(r.candidate_version().version())
               : "-",
           r.candidate_metrics().has_accuracy()
               ? absl::StrFormat("%.4f", r.candidate_metrics().accuracy())
               : "-",
           TimeUtil::ToString(r.create_time()),
           r.error().message().empty() ? r.reason() : r.error().message()});
    }
    PrintTable(rows);
    return 0;
  }
  if (args.size() != 2) return Fail("trainer", absl::InvalidArgumentError(kUsage));
  const std::string& arg = args[1];
  const std::string config_name = absl::StrCat("models/", arg, "/trainingConfig");

  if (verb == "trigger") {
    v1::TriggerRunRequest request;
    request.set_parent(absl::StrCat("models/", arg));
    request.set_trigger(v1::RUN_TRIGGER_MANUAL);
    request.set_reason(reason.empty() ? "continuumctl trainer trigger" : reason);
    if (absl::GetFlag(FLAGS_epochs) > 0) {
      request.mutable_overrides()->set_epochs(absl::GetFlag(FLAGS_epochs));
      request.mutable_override_mask()->add_paths("epochs");
    }
    if (absl::GetFlag(FLAGS_learning_rate) > 0) {
      request.mutable_overrides()->mutable_optimizer()->set_learning_rate(
          absl::GetFlag(FLAGS_learning_rate));
      request.mutable_override_mask()->add_paths("optimizer.learning_rate");
    }
    // --from/--to: train on exactly this event-time window (an incremental
    // run otherwise starts where the last successful run's window ended).
    absl::StatusOr<v1::TimeWindow> window =
        ParseTimeWindow(absl::GetFlag(FLAGS_from), absl::GetFlag(FLAGS_to));
    if (!window.ok()) return Fail("trainer trigger", window.status());
    if (window->has_start_time() || window->has_end_time()) {
      *request.mutable_data_window() = *std::move(window);
    }
    context.AddMetadata("x-continuum-actor", "continuumctl");
    v1::TriggerRunResponse response;
    grpc::Status s = stub->TriggerRun(&context, request, &response);
    if (!s.ok()) return FailGrpc("trainer trigger", s);
    if (JsonOutput() && !absl::GetFlag(FLAGS_wait)) return PrintJson(response);
    std::cout << (response.coalesced() ? "coalesced into " : "triggered ")
              << response.run().name() << "\n";
    if (absl::GetFlag(FLAGS_wait)) return Watch(*stub, response.run().name());
    return 0;
  }
  if (verb == "run") {
    v1::GetRunRequest request;
    request.set_name(RunName(arg));
    v1::GetRunResponse response;
    grpc::Status s = stub->GetRun(&context, request, &response);
    if (!s.ok()) return FailGrpc("trainer run", s);
    if (JsonOutput()) return PrintJson(response.run());
    PrintRun(response.run());
    return 0;
  }
  if (verb == "watch") return Watch(*stub, RunName(arg));
  if (verb == "cancel") {
    v1::CancelRunRequest request;
    request.set_name(RunName(arg));
    request.set_reason(reason);
    v1::CancelRunResponse response;
    grpc::Status s = stub->CancelRun(&context, request, &response);
    if (!s.ok()) return FailGrpc("trainer cancel", s);
    std::cout << response.run().name() << " "
              << Short(v1::RunState_Name(response.run().state()), "RUN_STATE_")
              << "\n";
    return 0;
  }
  if (verb == "config") {
    v1::GetTrainingConfigRequest request;
    request.set_name(config_name);
    v1::GetTrainingConfigResponse response;
    grpc::Status s = stub->GetTrainingConfig(&context, request, &response);
    if (!s.ok()) return FailGrpc("trainer config", s);
    return PrintJson(response.config());
  }
  if (verb == "pause" || verb == "resume") {
    v1::ScheduleStatus status;
    grpc::Status s;
    if (verb == "pause") {
      v1::PauseScheduleRequest request;
      request.set_name(config_name);
      request.set_reason(reason);
      v1::PauseScheduleResponse response;
      s = stub->PauseSchedule(&context, request, &response);
      status = response.status();
    } else {
      v1::ResumeScheduleRequest request;
      request.set_name(config_name);
      request.set_reason(reason);
      v1::ResumeScheduleResponse response;
      s = stub->ResumeSchedule(&context, request, &response);
      status = response.status();
    }
    if (!s.ok()) return FailGrpc(absl::StrCat("trainer ", verb), s);
    if (JsonOutput()) return PrintJson(status);
    std::cout << arg << ": schedule "
              << (status.paused() ? absl::StrCat("paused (", status.paused_reason(), ")")
                                  : "running")
              << ", " << status.consecutive_failures()
              << " consecutive failures"
              << (status.has_next_run_time()
                      ? absl::StrCat(", next run ",
                                     TimeUtil::ToString(status.next_run_time()))
                      : "")
              << "\n";
    return 0;
  }
  return Fail("trainer", absl::InvalidArgumentError(kUsage));
}

}  // namespace continuum::ctl
