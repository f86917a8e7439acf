#include "tools/continuumctl/model_command.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/model/torchscript_import.h"
#include "lib/store/crc32c.h"
#include "lib/store/file_system.h"
#include "tools/continuumctl/model_fit_command.h"

ABSL_FLAG(std::string, output, "",
          "model init, import: the bundle file to write; model export: the "
          "module file (.pt).");
ABSL_FLAG(std::string, model, "",
          "model init, import: the model id the manifest names (optional: "
          "the upload names the model).");
ABSL_FLAG(std::string, family, "mlp_classifier",
          "model init: mlp_classifier, mlp_regressor, autoencoder or "
          "gru_forecaster (its defaults: 32 steps, horizon 1; model fit "
          "--spec sets the rest).");
ABSL_FLAG(int, classes, 0,
          "model init: classifier classes; model import: the classes the "
          "module must return (default: what it returns).");

ABSL_FLAG(int, inputs, 0, "model init: features per input row.");
ABSL_FLAG(std::string, hidden, "",
          "model init: hidden layer widths, input side first, e.g. 256,128 "
          "(default 256).");
ABSL_FLAG(int, targets, 0,
          "model init: regressor outputs (targets); model import: the "
          "targets the module must return (default: what it returns).");
ABSL_FLAG(int, latent, 0,
          "model init: autoencoder bottleneck width (default inputs/8, at "
          "least 2).");
ABSL_FLAG(std::string, activation, "relu",
          "model init: relu, gelu, tanh or sigmoid.");
ABSL_FLAG(uint64_t, seed, 1,
          "model init: random seed of the weights; model import: of the "
          "warm-up rows.");
ABSL_FLAG(std::string, torchscript, "",
          "model import: the module, as torch.jit.save wrote it (.pt).");
ABSL_FLAG(std::string, task, "",
          "model import: classification (the module returns logits), "
          "regression (values) or anomaly_score (one score per row).");
ABSL_FLAG(std::string, input_shape, "",
          "model import: the module's input per row, e.g. 784 or 1,28,28; "
          "a record's features are reshaped to it.");
ABSL_FLAG(std::string, loss, "",
          "model import: the fine-tuning loss: cross_entropy, mse, or "
          "method:NAME (a method of the module returning the loss); default "
          "the task's.");
ABSL_FLAG(std::string, trainable, "",
          "model import: comma-separated parameter name prefixes that "
          "fine-tuning changes, e.g. head. (default all).");

namespace continuum::ctl {
namespace {

absl::StatusOr<v1::Activation> ParseActivation(const std::string& name) {
  if (name == "relu") return v1::ACTIVATION_RELU;
  if (name == "gelu") return v1::ACTIVATION_GELU;
  if (name == "tanh") return v1::ACTIVATION_TANH;
  if (name == "sigmoid") return v1::ACTIVATION_SIGMOID;
  return absl::InvalidArgumentError(absl::StrCat(
      "--activation: '", name, "' is not relu, gelu, tanh or sigmoid"));
}

std::string ActivationName(v1::Activation a) {
  switch (a) {
    case v1::ACTIVATION_GELU:
      return "gelu";
    case v1::ACTIVATION_TANH:
      return "tanh";
    case v1::ACTIVATION_SIGMOID:
      return "sigmoid";
    default:
      return "relu";
  }
}

std::string Shape(const v1::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.shape(), ", "), "]");
}

void AddTensorRow(absl::string_view kind, absl::string_view name,
                  const v1::Tensor& t,
                  std::vector<std::vector<std::string>>* rows) {
  double sum = 0, sq = 0;
  for (float v : t.data()) sum += v;
  double n = t.data_size();
  double mean = n > 0 ? sum / n : 0;
  for (float v : t.data()) sq += (v - mean) * (v - mean);
  double std = n > 0 ? std::sqrt(sq / n) : 0;
  rows->push_back({std::string(kind), std::string(name), Shape(t),
                   absl::StrFormat("%.6g", mean),
                   absl::StrFormat("%.6g", std)});
}

int Usage() {
  std::cerr << "usage: continuumctl model init --family=F --inputs=N "
               "[--classes=K | --targets=K] [--hidden=256,128] [--seed=N] "
               "--output=FILE\n"
               "       continuumctl model import --torchscript=FILE.pt "
               "--task=T --input_shape=D[,D...] [--loss=L] "
               "[--trainable=P[,P...]] [--classes=K | --targets=K] "
               "--output=FILE\n"
               "       continuumctl model fit --spec=TEXT|@FILE "
               "--train=FILE.csv [--epochs=N] [--learning_rate=X] "
               "[--holdout=0.1] [--season=N] [--seed=N] --output=FILE\n"
               "       continuumctl model predict BUNDLE --input=FILE.csv\n"
               "       continuumctl model export BUNDLE --output=FILE.pt\n"
               "       continuumctl model inspect FILE\n";
  return 2;
}

absl::StatusOr<v1::ModelTask> ParseTask(const std::string& name) {
  if (name == "classification") return v1::MODEL_TASK_CLASSIFICATION;
  if (name == "regression") return v1::MODEL_TASK_REGRESSION;
  if (name == "anomaly_score") return v1::MODEL_TASK_ANOMALY_SCORE;
  if (name == "quantile_forecast") return v1::MODEL_TASK_QUANTILE_FORECAST;
  return absl::InvalidArgumentError(absl::StrCat(
      "--task: '", name,
      "' is not classification, regression or anomaly_score"));
}

// --loss into options->loss (and loss_method).
absl::Status ParseLoss(const std::string& text,
                       model::TorchScriptImportOptions* options) {
  if (text.empty()) return absl::OkStatus();
  if (text == "cross_entropy") {
    options->loss = v1::TORCHSCRIPT_LOSS_CROSS_ENTROPY;
  } else if (text == "mse") {
    options->loss = v1::TORCHSCRIPT_LOSS_MSE;
  } else if (absl::StartsWith(text, "method:") && text.size() > 7) {
    options->loss = v1::TORCHSCRIPT_LOSS_METHOD;
    options->loss_method = text.substr(7);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--loss: '", text, "' is not cross_entropy, mse or method:NAME"));
  }
  return absl::OkStatus();
}

absl::StatusOr<model::TorchScriptImportOptions> ImportOptionsFromFlags() {
  model::TorchScriptImportOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  absl::StatusOr<v1::ModelTask> task = ParseTask(absl::GetFlag(FLAGS_task));
  if (!task.ok()) return task.status();
  o.task = *task;
  if (absl::Status s = ParseLoss(absl::GetFlag(FLAGS_loss), &o); !s.ok()) {
    return s;
  }
  const std::string shape = absl::GetFlag(FLAGS_input_shape);
  if (shape.empty()) {
    return absl::InvalidArgumentError(
        "--input_shape=D[,D...] is required (the module's input per row, "
        "e.g. 784 or 1,28,28)");
  }
  for (absl::string_view d : absl::StrSplit(shape, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(d, &v) || v < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--input_shape: '", d, "' is not a positive integer"));
    }
    o.input_shape.push_back(v);
  }
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_trainable),
                                            ',', absl::SkipEmpty())) {
    o.trainable_prefixes.emplace_back(p);
  }
  o.output_dim = o.task == v1::MODEL_TASK_CLASSIFICATION
                     ? absl::GetFlag(FLAGS_classes)
                     : absl::GetFlag(FLAGS_targets);
  o.seed = absl::GetFlag(FLAGS_seed);
  return o;
}

// `model import`: a bundle from a TorchScript module.
int RunImport() {
  const std::string output = absl::GetFlag(FLAGS_output);
  const std::string path = absl::GetFlag(FLAGS_torchscript);
  if (output.empty() || path.empty()) {
    std::cerr << "continuumctl model import: --torchscript=FILE.pt and "
                 "--output=FILE are required\n";
    return 2;
  }
  absl::StatusOr<model::TorchScriptImportOptions> options =
      ImportOptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "continuumctl model import: " << options.status().message()
              << "\n";
    return 2;
  }
  absl::StatusOr<std::string> module =
      store::DefaultFileSystem()->ReadFileToString(path);
  if (!module.ok()) {
    std::cerr << "continuumctl model import: " << module.status() << "\n";
    return 2;
  }
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ImportTorchScript(std::move(*module), *options);
  if (!bundle.ok()) {
    std::cerr << "continuumctl model import: " << path << ": "
              << bundle.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = model::WriteBundleFile(output, *bundle); !s.ok()) {
    std::cerr << "continuumctl model import: " << s << "\n";
    return 1;
  }
  int64_t parameters = 0, trainable = 0;
  const v1::ModelSpec spec = model::ResolveSpec(bundle->manifest().spec());
  for (const auto& w : bundle->weights()) {
    parameters += w.tensor().data_size();
    bool train = spec.torchscript().trainable_prefixes().empty();
    for (const std::string& p : spec.torchscript().trainable_prefixes()) {
      train = train || absl::StartsWith(w.name(), p);
    }
    if (train) trainable += w.tensor().data_size();
  }
  std::cout << "wrote " << output << ": torchscript "
            << absl::GetFlag(FLAGS_task) << ", input ["
            << absl::StrJoin(spec.torchscript().input_shape(), ", ")
            << "], " << model::OutputWidth(spec) << " outputs, "
            << bundle->weights_size() << " tensors, " << parameters
            << " parameters (" << trainable << " trainable), loss "
            << v1::TorchScriptLoss_Name(spec.torchscript().loss())
            << (spec.torchscript().loss_method().empty()
                    ? ""
                    : absl::StrCat(" ", spec.torchscript().loss_method()))
            << "\n";
  return 0;
}

// `model export BUNDLE`: the module of a torchscript bundle.
int RunExport(const std::string& bundle_path) {
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output.empty()) {
    std::cerr << "continuumctl model export: --output=FILE.pt is required\n";
    return 2;
  }
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ReadBundleFile(bundle_path);
  if (!bundle.ok()) {
    std::cerr << "continuumctl model export: " << bundle_path << ": "
              << bundle.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::string> module = model::ExportTorchScript(*bundle);
  if (!module.ok()) {
    std::cerr << "continuumctl model export: " << bundle_path << ": "
              << module.status().message() << "\n";
    return 1;
  }
  if (absl::Status s =
          store::DefaultFileSystem()->WriteFileAtomically(output, *module);
      !s.ok()) {
    std::cerr << "continuumctl model export: " << s << "\n";
    return 1;
  }
  std::cout << "wrote " << output << " (" << module->size()
            << " bytes): the module of " << bundle_path
            << "; load it with torch.jit.load\n";
  return 0;
}

}  // namespace

absl::StatusOr<internal::v1::ModelBundle> InitBundleFromFlags() {
  absl::StatusOr<v1::ModelFamily> family =
      model::ParseFamily(absl::GetFlag(FLAGS_family));
  if (!family.ok()) return family.status();
  v1::ArtifactManifest manifest;
  manifest.set_model(absl::GetFlag(FLAGS_model));
  v1::ModelSpec* spec = manifest.mutable_spec();
  spec->set_family(*family);
  if (absl::GetFlag(FLAGS_inputs) < 1) {
    return absl::InvalidArgumentError("--inputs=N (>= 1) is required");
  }
  spec->set_input_dim(absl::GetFlag(FLAGS_inputs));
  switch (*family) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      if (absl::GetFlag(FLAGS_classes) < 1) {
        return absl::InvalidArgumentError(
            "--classes=K (>= 1) is required for mlp_classifier");
      }
      spec->set_output_dim(absl::GetFlag(FLAGS_classes));
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      if (absl::GetFlag(FLAGS_targets) < 1) {
        return absl::InvalidArgumentError(
            "--targets=K (>= 1) is required for mlp_regressor");
      }
      spec->set_output_dim(absl::GetFlag(FLAGS_targets));
      break;
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      // The series forecast: the first --targets features (default 1).
      spec->set_output_dim(std::max(1, absl::GetFlag(FLAGS_targets)));
      break;
    default:
      break;
  }
  std::string hidden = absl::GetFlag(FLAGS_hidden);
  if (!hidden.empty()) {
    for (absl::string_view part : absl::StrSplit(hidden, ',')) {
      int width = 0;
      if (!absl::SimpleAtoi(part, &width) || width < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--hidden: '", part, "' is not a positive width (e.g. 256,128)"));
      }
      spec->add_hidden_sizes(width);
    }
  }
  spec->set_latent_dim(absl::GetFlag(FLAGS_latent));
  absl::StatusOr<v1::Activation> activation =
      ParseActivation(absl::GetFlag(FLAGS_activation));
  if (!activation.ok()) return activation.status();
  spec->set_activation(*activation);
  (*manifest.mutable_hyperparameters())["seed"] =
      absl::StrCat(absl::GetFlag(FLAGS_seed));
  return model::Model::InitBundle(manifest, absl::GetFlag(FLAGS_seed));
}

absl::StatusOr<std::string> InspectBundle(const std::string& path,
                                          const std::string& bytes) {
  absl::StatusOr<internal::v1::ModelBundle> bundle = model::ParseBundle(bytes);
  if (!bundle.ok()) return bundle.status();
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(bundle->manifest(), &json,
                                                    options);
  absl::StrAppend(&out, json, "\n");

  std::vector<std::vector<std::string>> rows = {
      {"SECTION", "NAME", "SHAPE", "MEAN", "STD"}};
  for (const auto& w : bundle->weights()) {
    AddTensorRow("weights", w.name(), w.tensor(), &rows);
  }
  for (const auto& f : bundle->fisher()) {
    AddTensorRow("fisher", f.name(), f.tensor(), &rows);
  }
  if (bundle->warmup_inputs().shape_size() > 0) {
    AddTensorRow("warmup", "inputs", bundle->warmup_inputs(), &rows);
  }
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    absl::StrAppend(&out, line, "\n");
  }

  int64_t parameters = 0;
  for (const auto& w : bundle->weights()) parameters += w.tensor().data_size();
  uint32_t crc =
      store::Crc32c(absl::string_view(bytes).substr(0, bytes.size() - 4));
  const v1::ModelSpec spec = model::ResolveSpec(bundle->manifest().spec());
  absl::StrAppend(&out, "\nfile: ", path, "\nsize: ", bytes.size(),
                  " bytes\ncrc32c: ", absl::StrFormat("%08x", crc),
                  " (verified)\nfamily: ", model::FamilyName(spec.family()));
  if (spec.family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    absl::StrAppend(&out, ", task ",
                    v1::ModelTask_Name(spec.torchscript().task()), ", loss ",
                    v1::TorchScriptLoss_Name(spec.torchscript().loss()),
                    ", module ", bundle->torchscript_module().size(),
                    " bytes");
  } else {
    absl::StrAppend(&out, ", activation ", ActivationName(spec.activation()));
  }
  absl::StrAppend(&out, ", parameters: ", parameters, "\n");
  absl::Status valid = model::ValidateBundle(*bundle);
  absl::StrAppend(&out, "valid: ", valid.ok() ? "yes" : valid.ToString(), "\n");
  return out;
}

int RunModelCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage();
  if (args[0] == "init") {
    if (args.size() != 1) return Usage();
    std::string output = absl::GetFlag(FLAGS_output);
    if (output.empty()) {
      std::cerr << "continuumctl model init: --output=FILE is required\n";
      return 2;
    }
    absl::StatusOr<internal::v1::ModelBundle> bundle = InitBundleFromFlags();
    if (!bundle.ok()) {
      std::cerr << "continuumctl model init: " << bundle.status() << "\n";
      return 2;
    }
    if (absl::Status s = model::WriteBundleFile(output, *bundle); !s.ok()) {
      std::cerr << "continuumctl model init: " << s << "\n";
      return 2;
    }
    int64_t parameters = 0;
    for (const auto& w : bundle->weights()) {
      parameters += w.tensor().data_size();
    }
    const v1::ModelSpec& spec = bundle->manifest().spec();
    if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
      // Windows in, quantiles per horizon and series out.
      std::cout << "wrote " << output << ": gru_forecaster ["
                << absl::StrJoin(model::InputShape(spec), ", ") << "] -> ["
                << absl::StrJoin(model::OutputShape(spec), ", ") << "], "
                << parameters << " parameters\n";
      return 0;
    }
    std::cout << "wrote " << output << ": "
              << model::FamilyName(bundle->manifest().spec().family()) << " "
              << absl::StrJoin(model::LayerWidths(bundle->manifest().spec()),
                               " -> ",
                               [](std::string* o, const auto& l) {
                                 absl::StrAppend(o, l.first);
                               })
              << " -> "
              << model::LayerWidths(bundle->manifest().spec()).back().second
              << ", " << parameters << " parameters\n";
    return 0;
  }
  if (args[0] == "import") {
    if (args.size() != 1) return Usage();
    return RunImport();
  }
  if (args[0] == "export") {
    if (args.size() != 2) return Usage();
    return RunExport(args[1]);
  }
  if (args[0] == "fit") {
    if (args.size() != 1) return Usage();
    return RunModelFit();
  }
  if (args[0] == "predict") {
    if (args.size() != 2) return Usage();
    return RunModelPredict(args[1]);
  }
  if (args[0] == "inspect") {
    if (args.size() != 2) return Usage();
    absl::StatusOr<std::string> bytes =
        store::DefaultFileSystem()->ReadFileToString(args[1]);
    if (!bytes.ok()) {
      std::cerr << "continuumctl model inspect: " << bytes.status() << "\n";
      return 2;
    }
    absl::StatusOr<std::string> text = InspectBundle(args[1], *bytes);
    if (!text.ok()) {
      std::cerr << "continuumctl model inspect: " << args[1] << ": "
                << text.status() << "\n";
      return 2;
    }
    std::cout << *text;
    absl::StatusOr<internal::v1::ModelBundle> bundle =
        model::ParseBundle(*bytes);
    return model::ValidateBundle(*bundle).ok() ? 0 : 1;
  }
  std::cerr << "continuumctl model: unknown subcommand '" << args[0] << "'\n";
  return Usage();
}

}  // namespace continuum::ctl
