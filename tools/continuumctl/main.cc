// continuumctl: the operator's command-line tool for Continuum.
//
//   continuumctl health --target=127.0.0.1:50051 [--service=NAME] [--wait]
//   continuumctl datasets list|get|stats|delete|create --target=... --dataset=D
//   continuumctl ingest --target=... --dataset=D --csv=FILE
//   continuumctl export --target=... --dataset=D --from=T --to=T
//   continuumctl drift replay --detector=adwin [--param NAME=VALUE ...] < FILE
//   continuumctl federated aggregate --rule=krum [--param K=V ...] < FILE
//   continuumctl federated epsilon --noise=Z --sample_rate=Q --steps=N
//   continuumctl model init --family=F --inputs=N --classes=K --output=FILE
//   continuumctl model inspect FILE
//   continuumctl trainer trigger|runs|run|watch|cancel|config|pause|resume
//   continuumctl predict --target=... --model=M --csv=FILE [--log=never]
//   continuumctl version
//   continuumctl COMMAND --help   (or: continuumctl help COMMAND)
//
// Each command lives in its own <name>_command.cc; this file dispatches.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <optional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "lib/core/build_info.h"
#include "tools/continuumctl/cli_util.h"
#include "tools/continuumctl/collector_commands.h"
#include "tools/continuumctl/drift_command.h"
#include "tools/continuumctl/endpoints.h"
#include "tools/continuumctl/federated_command.h"
#include "tools/continuumctl/health_command.h"
#include "tools/continuumctl/help_text.h"
#include "tools/continuumctl/model_command.h"
#include "tools/continuumctl/predict_command.h"
#include "tools/continuumctl/reencrypt_command.h"
#include "tools/continuumctl/registry_commands.h"
#include "tools/continuumctl/trainer_commands.h"

namespace {

struct Command {
  absl::string_view name;
  absl::string_view summary;
  std::function<int(const std::vector<std::string>&)> run;
  // `continuumctl NAME --help`: how to call it, and the flags it reads
  // (those of every command, --target/--timeout/--json, are listed apart).
  absl::string_view usage;
  std::vector<absl::string_view> flags;
  // The service it talks to, for its default --target (endpoints.h); empty
  // for commands that name their target (health) or talk to none.
  absl::string_view service;
  // Its verbs (`datasets list|get|...`), for shell completion; empty for a
  // command without verbs.
  std::vector<absl::string_view> verbs = {};
};

int RunVersion(const std::vector<std::string>&) {
  std::cout << "continuumctl " << continuum::core::kVersion << " ("
            << continuum::core::kGitCommit << ")\n";
  return 0;
}

int RunCompletion(const std::vector<std::string>& args);

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"health",
       "Check a service's health: --target=HOST:PORT [--service] [--wait] "
       "[--timeout]. Exit 0 SERVING, 1 NOT_SERVING, 2 unreachable, 3 "
       "unknown service.",
       continuum::ctl::RunHealthCommand,
       "continuumctl health --target=HOST:PORT [--service=NAME] [--wait] [--timeout=30s]",
       {"service", "wait"}, ""},
      {"datasets",
       "Manage the collector's data sets: list, get, stats, delete, create "
       "--dataset=D --features=N --label_kind=class --classes=K.",
       continuum::ctl::RunDatasetsCommand,
       "continuumctl datasets list|get|stats|delete|create --target=HOST:PORT [--dataset=D] [--features=N --label_kind=class --classes=K] [--replay_size=N] [--retention=...]",
       {"dataset", "features", "label_kind", "classes", "replay_size", "retention"}, "collector", {"list", "get", "stats", "delete", "create"}},
      {"ingest",
       "Load records into a data set: --dataset=D --csv=FILE or --jsonl=FILE, "
       "with a progress bar and a message for each rejected line.",
       continuum::ctl::RunIngestCommand,
       "continuumctl ingest --target=HOST:PORT --dataset=D (--csv=FILE | --jsonl=FILE) [--batch_size=1000]",
       {"dataset", "csv", "jsonl", "batch_size"}, "collector"},
      {"export",
       "Write a data set's records: --dataset=D [--from=T] [--to=T] "
       "[--format=csv|jsonl] [--output=FILE].",
       continuum::ctl::RunExportCommand,
       "continuumctl export --target=HOST:PORT --dataset=D [--from=T] [--to=T] [--format=csv|jsonl] [--output=FILE]",
       {"dataset", "from", "to", "format", "output"}, "collector"},
      {"models",
       "Registry models: list, get --model=M, register --model=M "
       "[--family=F] [--spec=TEXT|@FILE] [--plan=immediate|canary].",
       continuum::ctl::RunModelsCommand,
       "continuumctl models list|get|register --target=HOST:PORT [--model=M] [--family=F] [--spec=TEXT|@FILE] [--plan=immediate|canary]",
       {"model", "family", "spec", "plan"}, "registry", {"list", "get", "register"}},
      {"versions", "Registry versions: list --model=M, get --version=V.",
       continuum::ctl::RunVersionsCommand,
       "continuumctl versions list|get --target=HOST:PORT --model=M [--version=V]",
       {"model", "version"}, "registry", {"list", "get"}},
      {"upload", "Upload an artifact: --model=M --file=F [--report=R.json].",
       continuum::ctl::RunUploadCommand,
       "continuumctl upload --target=HOST:PORT --model=M --file=F [--report=R.json]",
       {"model", "file", "report"}, "registry"},
      {"download", "Download and verify an artifact: --version=V --output=F.",
       continuum::ctl::RunDownloadCommand,
       "continuumctl download --target=HOST:PORT --version=V --output=F",
       {"version", "output"}, "registry"},
      {"validate", "Submit a validation report: --version=V --report=R.json.",
       continuum::ctl::RunValidateCommand,
       "continuumctl validate --target=HOST:PORT --version=V --report=R.json",
       {"version", "report"}, "registry"},
      {"promote",
       "Start or advance a rollout: --model=M [--version=N] [--complete].",
       continuum::ctl::RunPromoteCommand,
       "continuumctl promote --target=HOST:PORT --model=M [--version=N] [--complete] [--reason=TEXT]",
       {"model", "version", "complete", "reason"}, "registry"},
      {"traffic", "Pin the canary's share: --model=M --percent=P.",
       continuum::ctl::RunTrafficCommand,
       "continuumctl traffic --target=HOST:PORT --model=M --percent=P [--reason=TEXT]",
       {"model", "percent", "reason"}, "registry"},
      {"rollback",
       "Roll back production: --model=M --reason=TEXT [--version=N].",
       continuum::ctl::RunRollbackCommand,
       "continuumctl rollback --target=HOST:PORT --model=M --reason=TEXT [--version=N]",
       {"model", "reason", "version"}, "registry"},
      {"rollout", "Rollout status, pause, resume or abort: --model=M [VERB].",
       continuum::ctl::RunRolloutCommand,
       "continuumctl rollout [status|pause|resume|abort] --target=HOST:PORT --model=M [--reason=TEXT]",
       {"model", "reason"}, "registry", {"status", "pause", "resume", "abort"}},
      {"audit",
       "Audit log: export [--output=F] [--filter=F] | verify (recomputes "
       "the hash chain).",
       continuum::ctl::RunAuditCommand,
       "continuumctl audit export [--output=F] [--filter='action = \"federated.site.exclude\"'] | verify --target=HOST:PORT",
       {"output", "filter"}, "registry", {"export", "verify"}},
      {"drift",
       "Drift: status --model=M (detectors, performance per version), "
       "alerts --model=M [--filter=F], or replay a recorded stream (one "
       "number per line on stdin) through a detector: replay "
       "--detector=adwin [--param NAME=VALUE, repeatable] [--warnings].",
       continuum::ctl::RunDriftCommand,
       "continuumctl drift status --model=M | drift alerts --model=M [--filter=F] | drift replay --detector=NAME [--param NAME=VALUE ...] [--warnings] < FILE",
       {"model", "filter", "detector", "param", "warnings"}, "drift",
       {"status", "alerts", "replay"}},
      {"federated",
       "Federated rounds on the coordinator's trainer: start --model=M, "
       "rounds, round NAME, sites, exclude|readmit SITE; offline: aggregate "
       "--rule=R (the updates on stdin, JSON lines), epsilon --noise=Z "
       "--sample_rate=Q --steps=N (plan a privacy budget).",
       continuum::ctl::RunFederatedCommand,
       "continuumctl federated start --model=M [--round_config=FILE] [--rule=R] [--min_sites=N] [--max_sites=N] [--epochs=N] [--learning_rate=X] [--reason=T] | rounds [--model=M] [--filter=F] | round models/M/rounds/N | sites [--filter=F] | exclude|readmit SITE [--reason=T] | aggregate --rule=fedavg|median|trimmed_mean|krum|multi_krum [--param K=V ...] < updates.jsonl | epsilon --noise=Z --sample_rate=Q --steps=N [--delta=D]",
       {"model", "round_config", "rule", "min_sites", "max_sites", "epochs",
        "learning_rate",
        "reason", "filter", "param",
        "noise", "sample_rate", "steps", "delta"}, "trainer",
       {"start", "rounds", "round", "sites", "exclude", "readmit", "aggregate",
        "epsilon"}},
      {"model",
       continuum::ctl::kModelCommandSummary,
       // Never called: main runs continuum-model for `model` (ExecModelTool).
       [](const std::vector<std::string>&) { return 2; },
       continuum::ctl::kModelCommandUsage,
       {continuum::ctl::kModelCommandFlags.begin(),
        continuum::ctl::kModelCommandFlags.end()},
       "",
       {"init", "fit", "predict", "import", "export", "inspect"}},
      {"trainer",
       "Training runs: trigger MODEL [--wait], runs [MODEL], run|watch|cancel "
       "RUN, config|pause|resume MODEL.",
       continuum::ctl::RunTrainerCommand,
       "continuumctl trainer trigger MODEL [--wait] [--epochs=N] [--learning_rate=X] [--from=TIME] [--to=TIME] [--reason=TEXT] | runs [MODEL] [--filter=F] | run|watch|cancel RUN | config|pause|resume MODEL [--reason=TEXT] --target=HOST:PORT",
       {"wait", "epochs", "learning_rate", "from", "to", "reason", "filter"}, "trainer", {"trigger", "runs", "run", "watch", "cancel", "config", "pause", "resume"}},
      {"predict",
       "Send rows to an inference pod: --model=M --csv=FILE "
       "[--steps=N] [--log=never|sampled|always] [--pin=N]; prints the "
       "predictions, the version and whether the rows were logged.",
       continuum::ctl::RunPredictCommand,
       "continuumctl predict --target=HOST:PORT --model=M --csv=FILE [--steps=N] [--log=default|never|sampled|always] [--pin=N] [--routing_key=K]",
       {"model", "csv", "steps", "log", "pin", "routing_key"}, "inference"},
      {"reencrypt",
       "Move data at rest to the active encryption key (services stopped): "
       "--data_dir=DIR (--key_file=F | --key_env=VAR) --active_key=ID.",
       continuum::ctl::RunReencryptCommand,
       "continuumctl reencrypt --data_dir=DIR (--key_file=F | --key_env=VAR) --active_key=ID",
       {"data_dir", "key_file", "key_env", "active_key"}, ""},
      {"completion",
       "Print a shell completion script: completion bash | completion zsh "
       "(e.g. source <(continuumctl completion bash)).",
       RunCompletion, "continuumctl completion bash|zsh", {}, "",
       {"bash", "zsh"}},
      {"version", "Print the version of continuumctl.", RunVersion,
       "continuumctl version",
       {}, ""},
  };
  return *commands;
}

// The flags a command reads, its own and, when it talks to a service, the
// connection flags, as `--name=`.
std::vector<std::string> CompletionFlags(const Command& c) {
  // A boolean flag completes bare (--wait), the others with their `=`.
  auto spelled = [](absl::string_view f) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(f);
    const bool is_bool = flag != nullptr && flag->IsOfType<bool>();
    return absl::StrCat("--", f, is_bool ? "" : "=");
  };
  std::vector<std::string> flags;
  for (absl::string_view f : c.flags) flags.push_back(spelled(f));
  if (!c.service.empty() || c.name == "health") {
    for (absl::string_view f : {"target", "timeout", "json", "tls_ca",
                                "tls_cert", "tls_key", "token_file"}) {
      flags.push_back(spelled(f));
    }
  }
  flags.push_back("--help");
  return flags;
}

// `continuumctl completion bash|zsh`: commands, their verbs and flags from
// the command table (so it cannot drift from the CLI); files otherwise.
// zsh runs the bash function through bashcompinit.
int RunCompletion(const std::vector<std::string>& args) {
  if (args.size() != 1 || (args[0] != "bash" && args[0] != "zsh")) {
    std::cerr << "usage: continuumctl completion bash|zsh\n";
    return 2;
  }
  std::string names, cases;
  for (const Command& c : Commands()) {
    absl::StrAppend(&names, names.empty() ? "" : " ", c.name);
    std::vector<std::string> flags = CompletionFlags(c);
    absl::StrAppend(&cases, "    ", c.name, ") verbs=\"",
                    absl::StrJoin(c.verbs, " "), "\"; flags=\"",
                    absl::StrJoin(flags, " "), "\" ;;\n");
  }
  std::string script;
  if (args[0] == "zsh") {
    absl::StrAppend(&script,
                    "#compdef continuumctl\n"
                    "autoload -U +X bashcompinit && bashcompinit\n");
  }
  absl::StrAppend(
      &script,
      "# continuumctl completion (generated by continuumctl completion ",
      args[0],
      ")\n"
      "_continuumctl() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" verbs=\"\" flags=\"\"\n"
      "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
      "    COMPREPLY=($(compgen -W \"",
      names,
      "\" -- \"$cur\"))\n"
      "    return 0\n"
      "  fi\n"
      "  case \"${COMP_WORDS[1]}\" in\n",
      cases,
      "  esac\n"
      "  if [[ \"$cur\" == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
      "    [[ \"${COMPREPLY[0]}\" == *= ]] && type compopt >/dev/null 2>&1 && "
      "compopt -o nospace 2>/dev/null\n"
      "    return 0\n"
      "  fi\n"
      "  if [ \"$COMP_CWORD\" -eq 2 ] && [ -n \"$verbs\" ]; then\n"
      "    COMPREPLY=($(compgen -W \"$verbs\" -- \"$cur\"))\n"
      "    return 0\n"
      "  fi\n"
      "  COMPREPLY=($(compgen -f -- \"$cur\"))\n"
      "}\n"
      "complete -F _continuumctl continuumctl\n");
  std::cout << script;
  return 0;
}

std::string Usage() {
  std::string usage =
      "continuumctl: operate a Continuum deployment.\n\n"
      "Usage: continuumctl COMMAND [flags]\n\nCommands:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&usage, "  ", c.name, "\t", c.summary, "\n");
  }
  absl::StrAppend(&usage,
                  "\nFlags are written --name=value; `continuumctl COMMAND "
                  "--help` lists a command's.");
  return usage;
}

// `continuumctl NAME --help`: the command's usage and its own flags.
std::string CommandHelp(const Command& c) {
  std::string help =
      continuum::ctl::CommandHelpText(c.usage, c.summary, c.flags);
  // The commands that call a service (as CompletionFlags decides).
  if (!c.service.empty() || c.name == "health") {
    absl::StrAppend(&help, "\nConnection flags (every command that calls a "
                           "service):\n");
    if (!c.service.empty()) {
      absl::StrAppend(
          &help, "  Without --target: $CONTINUUM_", absl::AsciiStrToUpper(c.service),
          ", else that line of the file $CONTINUUM_ENDPOINTS names or of "
          "./data/endpoints.env (continuum-up writes it), with its "
          "CONTINUUM_TLS_* files.\n");
    }
    for (absl::string_view f :
         {"target", "timeout", "json", "tls_ca", "tls_cert", "tls_key",
          "token_file"}) {
      absl::StrAppend(&help, continuum::ctl::FlagHelpLine(f));
    }
  }
  return help;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool IsHelpFlag(absl::string_view arg) {
  return arg == "--help" || arg == "-h" || arg == "-help" ||
         arg == "--helpfull";
}

// Answers `continuumctl [--help|-h|help]`, `continuumctl help NAME` and
// `continuumctl NAME ... --help` before absl parses any flag (absl would
// print every flag of every command). Returns the exit code, or nullopt
// when the command line asks for no help.
std::optional<int> MaybeHelp(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  const absl::string_view first = argv[1];
  if (IsHelpFlag(first) || (first == "help" && argc == 2)) {
    std::cout << Usage() << "\n";
    return 0;
  }
  if (first == "help") {
    const Command* c = FindCommand(argv[2]);
    if (c == nullptr) {
      std::cerr << "continuumctl: unknown command '" << argv[2] << "'\n\n"
                << Usage() << "\n";
      return 2;
    }
    std::cout << CommandHelp(*c);
    return 0;
  }
  const Command* c = FindCommand(first);
  if (c == nullptr) return std::nullopt;
  for (int i = 2; i < argc; ++i) {
    if (IsHelpFlag(argv[i])) {
      std::cout << CommandHelp(*c);
      return 0;
    }
  }
  return std::nullopt;
}

// Without --target, takes the command's service and its TLS files from the
// environment or an endpoints file (endpoints.h). Flags given win.
void ApplyDefaultEndpoint(const Command& command) {
  if (command.service.empty() || !absl::GetFlag(FLAGS_target).empty()) return;
  auto getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  auto read_file = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::optional<continuum::ctl::Endpoint> e =
      continuum::ctl::DefaultEndpoint(command.service, getenv, read_file);
  if (!e.has_value()) return;
  absl::SetFlag(&FLAGS_target, e->target);
  if (absl::GetFlag(FLAGS_tls_ca).empty() && !e->tls_ca.empty()) {
    absl::SetFlag(&FLAGS_tls_ca, e->tls_ca);
    if (absl::GetFlag(FLAGS_tls_cert).empty()) {
      absl::SetFlag(&FLAGS_tls_cert, e->tls_cert);
      absl::SetFlag(&FLAGS_tls_key, e->tls_key);
    }
  }
}

bool IsContinuumFlagFile(absl::string_view file) {
  return absl::StrContains(file, "tools/continuumctl/");
}

}  // namespace

// `continuumctl model ...` runs continuum-model (the same directory as this
// binary first, then $PATH) with the rest of the command line: the model
// commands need LibTorch, which continuumctl does not load (it starts in
// milliseconds). Returns only when the tool cannot be run.
int ExecModelTool(int argc, char** argv) {
  std::vector<std::string> args = {"continuum-model"};
  for (int i = 2; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> exec_argv;
  for (std::string& a : args) exec_argv.push_back(a.data());
  exec_argv.push_back(nullptr);
  std::string beside;
  std::error_code error;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    beside = (self.parent_path() / "continuum-model").string();
    execv(beside.c_str(), exec_argv.data());
  }
  execvp("continuum-model", exec_argv.data());
  std::cerr << "continuumctl model: cannot run continuum-model ("
            << (beside.empty() ? "" : beside + " or ")
            << "on $PATH): " << std::strerror(errno)
            << "; the model commands need it beside continuumctl (cmake "
               "--build build --target continuum-model)\n";
  return 2;
}

int main(int argc, char** argv) {
  if (argc >= 2 && absl::string_view(argv[1]) == "model") {
    return ExecModelTool(argc, argv);
  }
  if (argc == 3 && absl::string_view(argv[1]) == "help" &&
      absl::string_view(argv[2]) == "model") {
    char help[] = "--help";
    char* model_help[] = {argv[0], argv[2], help};
    return ExecModelTool(3, model_help);
  }
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsContinuumFlagFile;
  usage_config.contains_helpshort_flags = IsContinuumFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(Usage());
  if (std::optional<int> code = MaybeHelp(argc, argv)) return *code;
  // absl answers `--timeout=3` with "Illegal value" and no hint: a duration
  // needs a unit.
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    double number = 0;
    if (absl::ConsumePrefix(&arg, "--timeout=") &&
        absl::SimpleAtod(arg, &number)) {
      std::cerr << "continuumctl: --timeout=" << arg
                << " needs a unit: e.g. --timeout=" << arg << "s or "
                << "--timeout=500ms\n";
      return 2;
    }
  }
  // absl keeps only the last value of a repeated flag: merge the repeated
  // --param of `drift replay` and `federated aggregate` into one
  // comma-separated value first.
  std::vector<std::string> merged = continuum::ctl::MergeRepeatedFlag(
      std::vector<std::string>(argv, argv + argc), "param");
  std::vector<char*> merged_argv;
  for (std::string& arg : merged) merged_argv.push_back(arg.data());
  std::vector<char*> rest = absl::ParseCommandLine(
      static_cast<int>(merged_argv.size()), merged_argv.data());
  if (rest.size() < 2) {
    std::cerr << Usage() << "\n";
    return 2;
  }
  std::string name = rest[1];
  std::vector<std::string> args(rest.begin() + 2, rest.end());
  if (const Command* c = FindCommand(name); c != nullptr) {
    ApplyDefaultEndpoint(*c);
    return c->run(args);
  }
  std::cerr << "continuumctl: unknown command '" << name << "'\n\n"
            << Usage() << "\n";
  return 2;
}
