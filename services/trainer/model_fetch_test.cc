// FetchModel (RUN_PHASE_FETCHING_MODEL) with the fake registry and
// collector: a cold start's spec from the data set, the production
// version's bundle, and the ways either can fail.
#include "services/trainer/model_fetch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

// A serialized classifier bundle for model m taking `inputs` features.
std::string Bundle(int inputs) {
  v1::ArtifactManifest manifest;
  manifest.set_model("m");
  v1::ModelSpec* spec = manifest.mutable_spec();
  spec->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  spec->set_input_dim(inputs);
  spec->set_output_dim(FakeCollector::kClasses);
  spec->add_hidden_sizes(4);
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::Model::InitBundle(manifest, 1);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  absl::StatusOr<std::string> bytes = model::SerializeBundle(*bundle);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

class ModelFetchTest : public ::testing::Test {
 protected:
  ModelFetchTest()
      : collector_(10), control_(FakeCollectorRun(v1::TrainingConfig())) {
    registry_.AddModel("m");
    options_.registry = &registry_;
    options_.collector = &collector_;
  }

  absl::StatusOr<StartingModel> Fetch() {
    run_ = control_.run();
    RunContext context(options_, run_, control_);
    return FetchModel(context);
  }

  FakeRegistry registry_;
  FakeCollector collector_;
  FakeRunControl control_;
  TrainingExecutorOptions options_;
  v1::Run run_;
};

TEST_F(ModelFetchTest, ColdStartTakesItsDimensionsFromTheDataSet) {
  absl::StatusOr<StartingModel> start = Fetch();
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_TRUE(start->cold_start);
  EXPECT_EQ(start->version, 0);
  EXPECT_EQ(start->spec.family(), v1::MODEL_FAMILY_MLP_CLASSIFIER);
  EXPECT_EQ(start->spec.input_dim(), FakeCollector::kFeatures);
  EXPECT_EQ(start->spec.output_dim(), FakeCollector::kClasses);
  EXPECT_EQ(start->schema.feature_dim(), FakeCollector::kFeatures);
  EXPECT_EQ(registry_.downloads(), 0);
  EXPECT_TRUE(control_.run().cold_start());
  EXPECT_EQ(control_.run().parent_version().model(), "m");
  EXPECT_THAT(control_.phases(),
              ::testing::ElementsAre(v1::RUN_PHASE_FETCHING_MODEL));

  // Its normalisation is fitted to the rows it trains on.
  model::Dataset rows;
  rows.input_dim = FakeCollector::kFeatures;
  for (int r = 0; r < 2; ++r) {
    for (int f = 0; f < FakeCollector::kFeatures; ++f) {
      rows.features.push_back(f == 0 ? 2.0f * r : 1.0f);
    }
  }
  FitColdStartNormalization(rows, &*start);
  const v1::NormalizationStats& n = start->bundle.manifest().normalization();
  ASSERT_EQ(n.mean_size(), FakeCollector::kFeatures);
  EXPECT_FLOAT_EQ(n.mean(0), 1.0f);
  EXPECT_FLOAT_EQ(n.std(0), 1.0f);
  EXPECT_FLOAT_EQ(n.mean(1), 1.0f);
  EXPECT_FLOAT_EQ(n.std(1), 1.0f);  // Constant column.
}

TEST_F(ModelFetchTest, ProductionVersionIsDownloadedAndChecked) {
  registry_.set_production(Bundle(FakeCollector::kFeatures));
  absl::StatusOr<StartingModel> start = Fetch();
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_FALSE(start->cold_start);
  EXPECT_EQ(start->version, 1);
  EXPECT_EQ(registry_.downloads(), 1);
  EXPECT_EQ(control_.run().parent_version().version(), 1);

  registry_.set_production(Bundle(5));
  absl::Status narrow = Fetch().status();
  EXPECT_TRUE(absl::IsFailedPrecondition(narrow)) << narrow;
  EXPECT_THAT(narrow.message(),
              HasSubstr("has feature_dim 8 but model m takes input_dim 5"));

  registry_.set_production("not a bundle");
  absl::Status garbage = Fetch().status();
  EXPECT_TRUE(absl::IsDataLoss(garbage)) << garbage;
  EXPECT_THAT(garbage.message(), HasSubstr("production version 1: "));

  registry_.set_corrupt(true);
  absl::Status corrupt = Fetch().status();
  EXPECT_TRUE(absl::IsDataLoss(corrupt)) << corrupt;
  EXPECT_THAT(corrupt.message(),
              HasSubstr("registry: downloading version 1: "));
}

TEST_F(ModelFetchTest, UnknownModelsAndMissingClients) {
  v1::Run other = FakeCollectorRun(v1::TrainingConfig());
  other.set_model("other");
  FakeRunControl control(other);
  RunContext context(options_, other, control);
  absl::Status unknown = FetchModel(context).status();
  EXPECT_TRUE(absl::IsNotFound(unknown)) << unknown;
  EXPECT_THAT(unknown.message(), HasSubstr("registry: "));

  options_.collector = nullptr;
  absl::Status no_collector = Fetch().status();
  EXPECT_TRUE(absl::IsFailedPrecondition(no_collector));
  EXPECT_THAT(no_collector.message(), HasSubstr("collector_address"));
  options_.registry = nullptr;
  EXPECT_THAT(Fetch().status().message(), HasSubstr("registry_address"));
}

TEST_F(ModelFetchTest, StopsWhenCancelled) {
  control_.cancel();
  EXPECT_TRUE(absl::IsCancelled(Fetch().status()));
}

}  // namespace
}  // namespace continuum::trainer
