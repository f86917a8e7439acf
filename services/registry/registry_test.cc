// The Registry facade over a real SQLite store and blob store: the first
// deployment, deployment revisions for watchers, the audit chain, a restart
// and Create. Models, versions, rollouts and retention have their own tests
// (models_test.cc, versions_test.cc, rollouts_test.cc, retention_test.cc).
#include "services/registry/registry.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/store/blob_store.h"
#include "services/registry/audit_chain.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

TEST_F(RegistryTest, FirstValidatedVersionGoesToProductionAndIsDeployed) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  auto decision = Validate("models/fraud/versions/1", GoodReport());
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_TRUE(decision->decision().approved());
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_PRODUCTION);
  v1::Model model = *registry_->GetModel("models/fraud");
  EXPECT_EQ(model.production_version(), 1);
  EXPECT_EQ(model.aliases().at("production"), 1);
  auto deployments = registry_->DeploymentsSince(0, {"fraud"});
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ((*deployments)[0].stable_version(), 1);
  EXPECT_EQ((*deployments)[0].artifacts(0).sha256(), store::Sha256Hex("v1"));
  EXPECT_EQ(
      registry_->GetVersion("models/fraud/versions/production")->version(), 1);
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/latest")->version(),
            1);
}

TEST_F(RegistryTest, WatchersResumeFromTheirRevisionAndMissNothing) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("a", immediate);
  Register("b", immediate);
  for (int v = 1; v <= 3; ++v) {
    for (const char* m : {"a", "b"}) {
      ASSERT_TRUE(UploadBytes(m, absl::StrCat(m, v)).ok());
      ASSERT_TRUE(
          Validate(absl::StrCat("models/", m, "/versions/", v), GoodReport())
              .ok());
    }
  }
  auto all = registry_->DeploymentsSince(0, {});
  ASSERT_EQ(all->size(), 6u);
  for (size_t i = 1; i < all->size(); ++i) {
    EXPECT_GT((*all)[i].revision(), (*all)[i - 1].revision());
  }
  // A watcher of "a" that saw the first revision gets exactly the rest.
  auto a = registry_->DeploymentsSince(0, {"a"});
  ASSERT_EQ(a->size(), 3u);
  auto rest = registry_->DeploymentsSince((*a)[0].revision(), {"a"});
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].revision(), (*a)[1].revision());
  EXPECT_EQ((*rest)[1].stable_version(), 3);
  auto current = registry_->CurrentDeployments({});
  ASSERT_EQ(current->size(), 2u);
  EXPECT_EQ(registry_->latest_revision(), all->back().revision());
  // Waiting for a revision returns at once when a newer one exists.
  EXPECT_EQ(registry_->revisions().WaitAbove(0, absl::Now() + absl::Seconds(5),
                                             [] { return false; }),
            all->back().revision());
}

TEST_F(RegistryTest, AuditChainVerifiesAndDetectsTampering) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_GE(entries.size(), 5u);
  EXPECT_EQ(entries[0].sequence(), 1);
  EXPECT_EQ(entries[0].prev_hash(), std::string(64, '0'));
  EXPECT_EQ(entries[0].action(), "model.register");
  EXPECT_EQ(entries[0].actor(), "tester");
  EXPECT_EQ(FindBrokenLink(entries), 0);
  std::vector<v1::AuditEntry> tampered = entries;
  tampered[2].set_reason("nothing to see");
  EXPECT_EQ(FindBrokenLink(tampered), 3);
  tampered = entries;
  tampered.erase(tampered.begin() + 1);
  EXPECT_EQ(FindBrokenLink(tampered), 3);
}

TEST_F(RegistryTest, EverythingSurvivesARestart) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  int64_t revision = registry_->latest_revision();
  size_t audit = Audit().size();
  Open();
  EXPECT_EQ(registry_->latest_revision(), revision);
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(Audit().size(), audit);
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
}

TEST_F(RegistryTest, AnotherServicesDecisionJoinsTheChain) {
  Register("fraud");
  v1::RecordAuditEventRequest request;
  request.set_action("federated.site.exclude");
  request.set_object("sites/site-3");
  (*request.mutable_before()->mutable_fields())["trust"].set_string_value(
      "SITE_TRUST_PROBATION");
  (*request.mutable_after()->mutable_fields())["trust"].set_string_value(
      "SITE_TRUST_EXCLUDED");
  (*request.mutable_after()->mutable_fields())["outlier_score"]
      .set_number_value(47.5);
  request.set_reason("outlier in 3 rounds in a row");
  absl::StatusOr<v1::AuditEntry> entry =
      registry_->RecordAuditEvent(caller_, request);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->action(), "federated.site.exclude");
  EXPECT_EQ(entry->object(), "sites/site-3");
  EXPECT_EQ(entry->actor(), "tester");
  EXPECT_EQ(entry->before_json(), R"({"trust":"SITE_TRUST_PROBATION"})");
  // A Struct's keys come in no fixed order: compare the parsed state.
  google::protobuf::Struct after;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(entry->after_json(), &after)
          .ok());
  EXPECT_EQ(after.fields().size(), 2u);
  EXPECT_EQ(after.fields().at("trust").string_value(), "SITE_TRUST_EXCLUDED");
  EXPECT_EQ(after.fields().at("outlier_score").number_value(), 47.5);
  EXPECT_EQ(entry->reason(), "outlier in 3 rounds in a row");
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_EQ(entries.back().sequence(), entry->sequence());
  EXPECT_EQ(entries.back().hash(), entry->hash());
  EXPECT_EQ(FindBrokenLink(entries), 0);

  // A readmission without states records "{}".
  request.set_action("federated.site.readmit");
  request.clear_before();
  request.clear_after();
  entry = registry_->RecordAuditEvent(caller_, request);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->before_json(), "{}");
  EXPECT_EQ(entry->after_json(), "{}");

  // The registry's own actions, and anything else, are refused.
  const size_t before = Audit().size();
  for (const char* action : {"model.rollback", "version.transition",
                             "federated.site.delete", ""}) {
    request.set_action(action);
    absl::StatusOr<v1::AuditEntry> refused =
        registry_->RecordAuditEvent(caller_, request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << action;
    EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                  "federated.site.exclude"))
        << refused.status();
  }
  // A state over 16 KiB.
  request.set_action("federated.site.exclude");
  (*request.mutable_after()->mutable_fields())["notes"].set_string_value(
      std::string(17 << 10, 'x'));
  absl::StatusOr<v1::AuditEntry> big =
      registry_->RecordAuditEvent(caller_, request);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(big.status().message(), "after:"))
      << big.status();
  EXPECT_EQ(Audit().size(), before);
}

// A store whose every transaction fails.
class BrokenStore : public RegistryStore {
 public:
  absl::Status Transact(
      const std::function<absl::Status(RegistryTx&)>&) override {
    return absl::InternalError("registry database: disk on fire");
  }
};

TEST(RegistryCreateTest, AStoreThatCannotBeReadIsAnError) {
  store::BlobStoreOptions blob_options;
  blob_options.dir = testing::MakeTempDir("registry_create_") + "/blobs";
  auto blobs = store::BlobStore::Open(blob_options);
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  auto registry =
      Registry::Create(std::make_unique<BrokenStore>(), *std::move(blobs));
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(registry.status().message(), "disk on fire"))
      << registry.status();
}

}  // namespace
}  // namespace continuum::registry
