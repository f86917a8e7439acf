// MODEL_FAMILY_TORCHSCRIPT: modules made by Debian's python3-torch at test
// time (testdata/torchscript_modules.py) imported, served, fine-tuned and
// exported, compared with PyTorch's own outputs. Skipped (shown as skipped)
// where python3-torch is not installed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/data/fashion_mnist.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/torchscript_import.h"
#include "lib/model/training.h"
#include "tests/util/subprocess.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;

constexpr char kPython[] = "/usr/bin/python3";

std::vector<float> ReadF32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string bytes = s.str();
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

void WriteF32(const std::string& path, const std::vector<float>& values) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * 4));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A module the script made, with PyTorch's inputs and serving outputs.
struct TestModule {
  std::string path;
  v1::ModelTask task = v1::MODEL_TASK_UNSPECIFIED;
  std::string task_name;
  std::string shape_text;
  std::vector<int64_t> shape;
  int rows = 0;
  int outputs = 0;
  std::vector<float> inputs;
  std::vector<float> expected;
};

class TorchScriptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir("torchscript_test"));
    testing::CommandResult r = testing::RunCommand(
        {kPython, CONTINUUM_TORCHSCRIPT_MODULES_PY, "make", *dir_ + "/m"},
        *dir_, "make", absl::Seconds(120));
    if (r.exit_code == 77) {
      skip_ = new std::string(absl::StrCat("python3-torch: ", r.err));
    } else if (r.exit_code != 0) {
      failure_ = new std::string(absl::StrCat(
          "torchscript_modules.py make exited ", r.exit_code, ": ", r.err));
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
  }

  void SetUp() override {
    if (skip_ != nullptr) GTEST_SKIP() << *skip_;
    ASSERT_EQ(failure_, nullptr) << *failure_;
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/m/", name);
  }

  static TestModule Load(const std::string& name) {
    TestModule m;
    m.path = Path(name + ".pt");
    std::vector<std::string> f = absl::StrSplit(
        ReadBytes(Path(name + ".txt")), absl::ByAnyChar(" \n"),
        absl::SkipEmpty());
    EXPECT_EQ(f.size(), 4u);
    m.task_name = f[0];
    m.task = m.task_name == "classification" ? v1::MODEL_TASK_CLASSIFICATION
             : m.task_name == "regression"   ? v1::MODEL_TASK_REGRESSION
                                             : v1::MODEL_TASK_ANOMALY_SCORE;
    m.shape_text = f[1];
    for (absl::string_view d : absl::StrSplit(f[1], ',')) {
      m.shape.push_back(std::stoll(std::string(d)));
    }
    m.rows = std::stoi(f[2]);
    m.outputs = std::stoi(f[3]);
    m.inputs = ReadF32(Path(name + ".in.f32"));
    m.expected = ReadF32(Path(name + ".out.f32"));
    return m;
  }

  static TorchScriptImportOptions Options(const TestModule& m) {
    TorchScriptImportOptions o;
    o.model = "byo";
    o.task = m.task;
    o.input_shape = m.shape;
    o.seed = 3;
    return o;
  }

  static ModelBundle Import(const TestModule& m) {
    absl::StatusOr<ModelBundle> b =
        ImportTorchScript(ReadBytes(m.path), Options(m));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : ModelBundle();
  }

  // PyTorch's serving outputs for `inputs` from the module in `pt_path`
  // (loaded with torch.jit.load in a python3 process).
  static std::vector<float> PythonOutputs(const std::string& pt_path,
                                          const TestModule& m,
                                          const std::vector<float>& inputs) {
    const std::string in = absl::StrCat(*dir_, "/py.in.f32");
    const std::string out = absl::StrCat(*dir_, "/py.out.f32");
    WriteF32(in, inputs);
    testing::CommandResult r = testing::RunCommand(
        {kPython, CONTINUUM_TORCHSCRIPT_MODULES_PY, "run", pt_path,
         m.task_name, m.shape_text, in, out},
        *dir_, "run", absl::Seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadF32(out);
  }

  static std::string* dir_;
  static std::string* skip_;
  static std::string* failure_;
};

std::string* TorchScriptTest::dir_ = nullptr;
std::string* TorchScriptTest::skip_ = nullptr;
std::string* TorchScriptTest::failure_ = nullptr;

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tolerance) << what << " value " << i;
  }
}

TEST_F(TorchScriptTest, ServesWhatPyTorchComputes) {
  for (const std::string name :
       {"mlp", "cnn", "control_flow", "traced", "autoencoder", "linear"}) {
    SCOPED_TRACE(name);
    TestModule m = Load(name);
    ModelBundle bundle = Import(m);
    EXPECT_EQ(bundle.manifest().spec().family(), v1::MODEL_FAMILY_TORCHSCRIPT);
    EXPECT_EQ(bundle.manifest().spec().output_dim(),
              m.task == v1::MODEL_TASK_ANOMALY_SCORE ? 0 : m.outputs);
    EXPECT_GT(bundle.manifest().parameters_size(), 0);
    EXPECT_EQ(bundle.weights_size(), bundle.manifest().parameters_size());
    EXPECT_EQ(bundle.initial_weights_size(), bundle.weights_size());
    EXPECT_TRUE(ValidateBundle(bundle).ok());
    // Through the file format, as the registry and the pod see it.
    absl::StatusOr<std::string> bytes = SerializeBundle(bundle);
    ASSERT_TRUE(bytes.ok());
    absl::StatusOr<ModelBundle> parsed = ParseBundle(*bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(*parsed);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->output_dim(), m.outputs);
    std::vector<float> out;
    ASSERT_TRUE((*model)->Forward(m.inputs.data(), m.rows, &out).ok());
    ExpectClose(out, m.expected, 1e-6, name);
    // One row at a time gives the same answers (but for control_flow,
    // whose branch depends on the whole batch by design).
    for (int r = 0; name != std::string("control_flow") && r < m.rows;
         r += 5) {
      const int64_t dim = (*model)->input_dim();
      ASSERT_TRUE(
          (*model)->Forward(m.inputs.data() + r * dim, 1, &out).ok());
      for (int k = 0; k < m.outputs; ++k) {
        EXPECT_NEAR(out[k], m.expected[r * m.outputs + k], 1e-6);
      }
    }
  }
}

TEST_F(TorchScriptTest, RefusesModulesThatCannotServe) {
  TestModule base = Load("linear");  // fc 4 -> 2, like the bad ones
  TorchScriptImportOptions o = Options(base);
  struct Case {
    std::string file;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"throws.pt", "this module refuses every input"},
           {"nan.pt", "finite"},
           {"wrong_shape.pt", "forward returned shape [16] for 8 rows"},
           {"double.pt", "float32"},
           {"mlp.in.f32", "torch.jit.load"}}) {
    SCOPED_TRACE(c.file);
    absl::StatusOr<ModelBundle> b = ImportTorchScript(ReadBytes(Path(c.file)), o);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(b.status().message(), HasSubstr(c.want));
    // No C++ backtrace in what a user reads.
    EXPECT_THAT(std::string(b.status().message()),
                ::testing::Not(HasSubstr("Exception raised from")));
  }

  // A module whose shape disagrees with the input shape given.
  TestModule mlp = Load("mlp");
  TorchScriptImportOptions wrong = Options(mlp);
  wrong.input_shape = {4};
  absl::StatusOr<ModelBundle> b = ImportTorchScript(ReadBytes(mlp.path), wrong);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("warm-up"));
  // Outputs other than the caller expects.
  TorchScriptImportOptions classes = Options(mlp);
  classes.output_dim = 5;
  b = ImportTorchScript(ReadBytes(mlp.path), classes);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("returns 3 values per row"));
  // A loss method the module does not have.
  TorchScriptImportOptions method = Options(mlp);
  method.loss = v1::TORCHSCRIPT_LOSS_METHOD;
  method.loss_method = "no_such_loss";
  b = ImportTorchScript(ReadBytes(mlp.path), method);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("no method 'no_such_loss'"));

  // The pod's check of a module that broke after import: Forward of the
  // wrong_shape module fails with the stage's text, never serves.
  ModelBundle good = Import(base);
  ModelBundle swapped = good;
  swapped.set_torchscript_module(ReadBytes(Path("wrong_shape.pt")));
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(swapped);
  ASSERT_TRUE(model.ok()) << model.status();  // same parameters: it loads
  std::vector<float> out;
  absl::Status s = (*model)->Forward(base.inputs.data(), 2, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("forward returned shape [4]"));
  // A module with other parameters than its manifest lists.
  ModelBundle other = good;
  other.set_torchscript_module(ReadBytes(Path("mlp.pt")));
  model = Model::FromBundle(other);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("parameters:"));
  // Not a module at all.
  ModelBundle junk = good;
  junk.set_torchscript_module(std::string("PK\x03\x04garbage", 11));
  model = Model::FromBundle(junk);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("load: "));
}

TEST_F(TorchScriptTest, ValidationNamesWhatIsWrong) {
  ModelBundle good = Import(Load("mlp"));
  ASSERT_TRUE(ValidateBundle(good).ok());
  struct Case {
    std::function<void(ModelBundle*)> edit;
    std::string want;
  };
  auto ts = [](ModelBundle* b) {
    return b->mutable_manifest()->mutable_spec()->mutable_torchscript();
  };
  for (const Case& c : std::vector<Case>{
           {[&](ModelBundle* b) { ts(b)->clear_task(); }, "task is not set"},
           {[&](ModelBundle* b) {
              ts(b)->set_loss(v1::TORCHSCRIPT_LOSS_MSE);
            },
            "does not fit task"},
           {[&](ModelBundle* b) {
              ts(b)->set_loss(v1::TORCHSCRIPT_LOSS_METHOD);
            },
            "loss_method is required"},
           {[&](ModelBundle* b) { ts(b)->set_loss_method("x"); },
            "is set, but the loss"},
           {[&](ModelBundle* b) { ts(b)->add_trainable_prefixes("nothing."); },
            "'nothing.' matches no parameter"},
           {[&](ModelBundle* b) { ts(b)->add_trainable_prefixes(""); },
            "1 to 256 bytes"},
           {[&](ModelBundle* b) {
              ts(b)->clear_input_shape();
              ts(b)->add_input_shape(3);
              ts(b)->add_input_shape(3);
            },
            "holds 9 values; input_dim is 8"},
           {[&](ModelBundle* b) {
              ts(b)->set_task(v1::MODEL_TASK_QUANTILE_FORECAST);
              ts(b)->clear_loss();
            },
            "not supported by this build"},
           {[&](ModelBundle* b) {
              b->mutable_manifest()->mutable_spec()->clear_torchscript();
            },
            "torchscript is required"},
           {[&](ModelBundle* b) { b->clear_torchscript_module(); },
            "torchscript_module is empty"},
           {[&](ModelBundle* b) { b->set_torchscript_module("CTMBNDL1"); },
            "not a TorchScript archive"},
           {[&](ModelBundle* b) {
              b->mutable_manifest()->mutable_normalization()->add_mean(0);
            },
            "normalises its own inputs"},
           {[&](ModelBundle* b) { b->mutable_initial_weights()->RemoveLast(); },
            "initial_weights holds"},
           {[&](ModelBundle* b) {
              b->mutable_weights(0)->mutable_tensor()->set_data(0, NAN);
            },
            "body.0.weight: element 0 is NaN"},
           {[&](ModelBundle* b) {
              b->mutable_manifest()->mutable_parameters(1)->set_name(
                  b->manifest().parameters(0).name());
            },
            "listed twice"}}) {
    ModelBundle b = good;
    c.edit(&b);
    absl::Status s = ValidateBundle(b);
    EXPECT_FALSE(s.ok()) << c.want;
    EXPECT_THAT(s.message(), HasSubstr(c.want));
  }
  // A built-in family holds no module and no TorchScript spec.
  absl::StatusOr<ModelBundle> mlp = [] {
    v1::ArtifactManifest m;
    m.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m.mutable_spec()->set_input_dim(4);
    m.mutable_spec()->set_output_dim(2);
    m.mutable_spec()->add_hidden_sizes(4);
    return Model::InitBundle(m, 1);
  }();
  ASSERT_TRUE(mlp.ok());
  ModelBundle with_module = *mlp;
  with_module.set_torchscript_module(good.torchscript_module());
  EXPECT_THAT(ValidateBundle(with_module).message(),
              HasSubstr("only torchscript bundles hold a module"));
  ModelBundle with_spec = *mlp;
  *with_spec.mutable_manifest()->mutable_spec()->mutable_torchscript() =
      good.manifest().spec().torchscript();
  EXPECT_THAT(ValidateBundle(with_spec).message(),
              HasSubstr("it is for torchscript models"));
  // There are no fresh weights for a user's module.
  EXPECT_EQ(Model::InitBundle(good.manifest(), 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Three well-separated classes of 8 features: row r has class r % 3.
Dataset Blobs(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.6f);
  Dataset d;
  d.input_dim = 8;
  for (int r = 0; r < rows; ++r) {
    const int c = r % 3;
    for (int i = 0; i < 8; ++i) {
      d.features.push_back((i % 3 == c ? 2.0f : -1.0f) + noise(rng));
    }
    d.targets.push_back(static_cast<float>(c));
  }
  return d;
}

v1::TrainingConfig Config(int epochs) {
  v1::TrainingConfig c;
  c.mutable_optimizer()->set_learning_rate(1e-2);
  c.set_epochs(epochs);
  c.set_batch_size(32);
  c.set_seed(11);
  c.mutable_guards()->set_replay_ratio(0);
  return c;
}

std::map<std::string, std::vector<float>> WeightsByName(
    const google::protobuf::RepeatedPtrField<internal::v1::NamedTensor>& w) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : w) {
    out[t.name()] = {t.tensor().data().begin(), t.tensor().data().end()};
  }
  return out;
}

TEST_F(TorchScriptTest, FineTunesAndPythonLoadsTheResult) {
  TestModule m = Load("mlp");
  ModelBundle parent = Import(m);
  const Dataset train = Blobs(600, 1), holdout = Blobs(150, 2);

  absl::StatusOr<TrainResult> run =
      Train(parent, train, nullptr, holdout, Config(4));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->diverged);
  ASSERT_FALSE(run->epochs.empty());
  EXPECT_LT(run->epochs.back().holdout_loss, 0.5 * run->initial_holdout_loss);
  EXPECT_GT(run->holdout_metrics.accuracy(), 0.9);
  const ModelBundle& candidate = run->candidate;
  ASSERT_TRUE(ValidateBundle(candidate).ok());
  // The Fisher diagonal covers every parameter, by name.
  EXPECT_EQ(candidate.fisher_size(), candidate.weights_size());
  EXPECT_EQ(candidate.fisher(0).name(), candidate.weights(0).name());
  // The initial weights travel unchanged; the weights moved.
  EXPECT_EQ(WeightsByName(candidate.initial_weights()),
            WeightsByName(parent.initial_weights()));
  EXPECT_NE(WeightsByName(candidate.weights()),
            WeightsByName(parent.weights()));

  // Continuum's outputs of the candidate...
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(candidate);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> ours;
  ASSERT_TRUE((*model)->Forward(m.inputs.data(), m.rows, &ours).ok());
  // ...are PyTorch's outputs of the exported module.
  absl::StatusOr<std::string> exported = ExportTorchScript(candidate);
  ASSERT_TRUE(exported.ok()) << exported.status();
  const std::string pt = absl::StrCat(*dir_, "/finetuned.pt");
  ASSERT_TRUE(testing::WriteFile(pt, *exported).ok());
  ExpectClose(PythonOutputs(pt, m, m.inputs), ours, 1e-6, "exported");
  // And the module saved in the candidate is the same one.
  EXPECT_EQ(candidate.torchscript_module().substr(0, 4), "PK\x03\x04");
  ExpectClose(PythonOutputs(pt, m, m.inputs), ours, 1e-6, "again");

  // Exporting a built-in family's version is refused.
  v1::ArtifactManifest mlp;
  mlp.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  mlp.mutable_spec()->set_input_dim(4);
  mlp.mutable_spec()->set_output_dim(2);
  absl::StatusOr<ModelBundle> builtin = Model::InitBundle(mlp, 1);
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(ExportTorchScript(*builtin).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(TorchScriptTest, TrainsOnlyTheTrainablePrefixes) {
  TestModule m = Load("mlp");
  TorchScriptImportOptions o = Options(m);
  o.trainable_prefixes = {"head."};
  absl::StatusOr<ModelBundle> parent =
      ImportTorchScript(ReadBytes(m.path), o);
  ASSERT_TRUE(parent.ok()) << parent.status();
  absl::StatusOr<TrainResult> run =
      Train(*parent, Blobs(300, 3), nullptr, Blobs(90, 4), Config(2));
  ASSERT_TRUE(run.ok()) << run.status();
  auto before = WeightsByName(parent->weights());
  auto after = WeightsByName(run->candidate.weights());
  int changed = 0;
  for (const auto& [name, values] : before) {
    if (name.rfind("head.", 0) == 0) {
      changed += after[name] != values;
    } else {
      EXPECT_EQ(after[name], values) << name << " is not trainable";
    }
  }
  EXPECT_EQ(changed, 2);  // head.weight, head.bias
}

TEST_F(TorchScriptTest, GuardsFullRetrainAndOnlineUpdates) {
  TestModule m = Load("mlp");
  ModelBundle parent = Import(m);
  absl::StatusOr<TrainResult> first =
      Train(parent, Blobs(300, 5), nullptr, Blobs(90, 6), Config(2));
  ASSERT_TRUE(first.ok()) << first.status();

  // EWC (the first run's Fisher diagonal) and distillation from the parent
  // are on: no note says they are off.
  v1::TrainingConfig guarded = Config(1);
  guarded.mutable_guards()->set_ewc_lambda(100);
  guarded.mutable_guards()->set_distillation_weight(0.5);
  absl::StatusOr<TrainResult> second = Train(
      first->candidate, Blobs(300, 7), nullptr, Blobs(90, 8), guarded);
  ASSERT_TRUE(second.ok()) << second.status();
  for (const std::string& note : second->notes) {
    EXPECT_THAT(note, ::testing::Not(HasSubstr("is off"))) << note;
  }

  // A full retrain starts from the imported weights: its starting held-out
  // loss is the imported module's, not the fine-tuned parent's.
  v1::TrainingConfig full = Config(1);
  full.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  const Dataset holdout = Blobs(90, 10);
  absl::StatusOr<TrainResult> fresh =
      Train(first->candidate, Blobs(300, 9), nullptr, holdout, full);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  absl::StatusOr<TrainResult> from_import =
      Train(parent, Blobs(300, 9), nullptr, holdout, Config(1));
  ASSERT_TRUE(from_import.ok());
  EXPECT_DOUBLE_EQ(fresh->initial_holdout_loss,
                   from_import->initial_holdout_loss);
  ModelBundle no_initial = first->candidate;
  no_initial.clear_initial_weights();
  EXPECT_EQ(Train(no_initial, Blobs(30, 9), nullptr, holdout, full)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  // Online micro-batches.
  v1::TrainingConfig online = Config(1);
  online.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  absl::StatusOr<std::unique_ptr<OnlineUpdater>> updater =
      OnlineUpdater::Create(parent, online);
  ASSERT_TRUE(updater.ok()) << updater.status();
  const Dataset stream = Blobs(256, 12);
  for (int b = 0; b < 8; ++b) {
    Dataset batch;
    batch.input_dim = 8;
    batch.features.assign(stream.features.begin() + b * 32 * 8,
                          stream.features.begin() + (b + 1) * 32 * 8);
    batch.targets.assign(stream.targets.begin() + b * 32,
                         stream.targets.begin() + (b + 1) * 32);
    ASSERT_TRUE((*updater)->Update(batch).ok());
  }
  EXPECT_EQ((*updater)->updates(), 8);
  absl::StatusOr<ModelBundle> exported = (*updater)->ExportBundle();
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_NE(WeightsByName(exported->weights()),
            WeightsByName(parent.weights()));
  absl::StatusOr<std::unique_ptr<Model>> served = Model::FromBundle(*exported);
  ASSERT_TRUE(served.ok()) << served.status();
  absl::StatusOr<v1::Metrics> metrics = Evaluate(**served, Blobs(150, 13));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_GT(metrics->accuracy(), 0.8);
}

TEST_F(TorchScriptTest, AnomalyScoreTrainsWithItsLossMethod) {
  TestModule m = Load("autoencoder");
  TorchScriptImportOptions o = Options(m);
  o.loss = v1::TORCHSCRIPT_LOSS_METHOD;
  o.loss_method = "reconstruction_loss";
  absl::StatusOr<ModelBundle> parent =
      ImportTorchScript(ReadBytes(m.path), o);
  ASSERT_TRUE(parent.ok()) << parent.status();
  // Benign rows on a 2-dimensional subspace of the 6 features.
  auto benign = [](int rows, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    Dataset d;
    d.input_dim = 6;
    for (int r = 0; r < rows; ++r) {
      const float a = n(rng), b = n(rng);
      for (float v : {a, b, a + b, a - b, 0.5f * a, -b}) {
        d.features.push_back(v);
      }
    }
    return d;
  };
  v1::TrainingConfig c = Config(30);
  c.mutable_optimizer()->set_learning_rate(2e-2);
  absl::StatusOr<TrainResult> run =
      Train(*parent, benign(600, 1), nullptr, benign(200, 2), c);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_LT(run->epochs.back().holdout_loss, 0.5 * run->initial_holdout_loss);
  // The threshold is calibrated on the held-out scores, as for autoencoders.
  EXPECT_TRUE(run->candidate.manifest().thresholds().has_anomaly_threshold());
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromBundle(run->candidate);
  ASSERT_TRUE(model.ok());
  std::vector<float> out;
  ASSERT_TRUE((*model)->Forward(m.inputs.data(), 2, &out).ok());
  EXPECT_EQ(out.size(), 2u);
}

Dataset FromImages(const data::LabeledImages& images) {
  Dataset d;
  d.input_dim = images.feature_dim();
  d.features = images.pixels;
  for (int label : images.labels) d.targets.push_back(label);
  return d;
}

// The small CNN on real Fashion-MNIST (Debian's dataset-fashion-mnist): an
// untrained module learns the classes, and keeps serving what Python
// computes after fine-tuning.
TEST_F(TorchScriptTest, FineTunesACnnOnFashionMnist) {
  absl::StatusOr<data::LabeledImages> train =
      data::LoadFashionMnist(data::FashionMnistSplit::kTrain, 3000);
  if (absl::IsNotFound(train.status())) GTEST_SKIP() << train.status();
  ASSERT_TRUE(train.ok()) << train.status();
  absl::StatusOr<data::LabeledImages> test =
      data::LoadFashionMnist(data::FashionMnistSplit::kTest, 1000);
  ASSERT_TRUE(test.ok()) << test.status();
  TestModule m = Load("cnn");
  ModelBundle parent = Import(m);
  const Dataset train_set = FromImages(*train), test_set = FromImages(*test);
  absl::StatusOr<std::unique_ptr<Model>> before = Model::FromBundle(parent);
  ASSERT_TRUE(before.ok());
  absl::StatusOr<v1::Metrics> untrained = Evaluate(**before, test_set);
  ASSERT_TRUE(untrained.ok()) << untrained.status();

  v1::TrainingConfig c = Config(3);
  c.mutable_optimizer()->set_learning_rate(3e-3);
  absl::StatusOr<TrainResult> run =
      Train(parent, train_set, nullptr, test_set, c);
  ASSERT_TRUE(run.ok()) << run.status();
  absl::StatusOr<std::unique_ptr<Model>> after =
      Model::FromBundle(run->candidate);
  ASSERT_TRUE(after.ok()) << after.status();
  absl::StatusOr<v1::Metrics> trained = Evaluate(**after, test_set);
  ASSERT_TRUE(trained.ok());
  std::printf("CNN on Fashion-MNIST (3000 training images, 3 epochs): test "
              "accuracy %.3f before, %.3f after\n",
              untrained->accuracy(), trained->accuracy());
  EXPECT_LT(untrained->accuracy(), 0.3);
  EXPECT_GT(trained->accuracy(), 0.7);

  absl::StatusOr<std::string> exported = ExportTorchScript(run->candidate);
  ASSERT_TRUE(exported.ok());
  const std::string pt = absl::StrCat(*dir_, "/cnn_finetuned.pt");
  ASSERT_TRUE(testing::WriteFile(pt, *exported).ok());
  const std::vector<float> rows(test_set.features.begin(),
                                test_set.features.begin() + 16 * 784);
  std::vector<float> ours;
  ASSERT_TRUE((*after)->Forward(rows.data(), 16, &ours).ok());
  ExpectClose(PythonOutputs(pt, m, rows), ours, 1e-6, "fine-tuned CNN");
}

TEST_F(TorchScriptTest, ConcurrentForwardsAgreeBitForBit) {
  TestModule m = Load("cnn");
  ModelBundle bundle = Import(m);
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(bundle);
  ASSERT_TRUE(model.ok());
  const Model& shared = **model;
  const int dim = shared.input_dim();
  // Batches of 1 to 16 rows; the reference computed on one thread.
  std::vector<std::vector<float>> reference(m.rows);
  for (int n = 1; n <= m.rows; ++n) {
    ASSERT_TRUE(shared.Forward(m.inputs.data(), n, &reference[n - 1]).ok());
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0), failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> out;
      for (int i = 0; i < 200; ++i) {
        const int n = 1 + (i * 7 + t) % m.rows;
        if (!shared.Forward(m.inputs.data(), n, &out).ok()) {
          ++failures[t];
        } else if (out != reference[n - 1]) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(failures[t], 0);
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
  (void)dim;
}

}  // namespace
}  // namespace continuum::model
