// RegistryWriter inside real SQLite transactions: lookups, audited
// transitions and deployment revisions.
#include "services/registry/registry_writer.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/registry/audit_chain.h"
#include "services/registry/sqlite_registry_store.h"
#include "tests/util/subprocess.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

class RegistryWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteRegistryStore::Open(
        testing::MakeTempDir("registry_writer_") + "/registry.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(Run([](RegistryWriter& w) {
                  v1::Model model;
                  model.set_name("models/fraud");
                  if (absl::Status s = w.tx().PutModel(model); !s.ok()) {
                    return s;
                  }
                  for (int64_t n : {1, 2}) {
                    v1::Version v;
                    v.set_name(absl::StrCat("models/fraud/versions/", n));
                    v.set_version(n);
                    v.set_state(S::VERSION_STATE_VALIDATED);
                    v.set_sha256(std::string(64, static_cast<char>('0' + n)));
                    v.set_size_bytes(100 * n);
                    if (absl::Status s = w.tx().PutVersion("fraud", v);
                        !s.ok()) {
                      return s;
                    }
                  }
                  return absl::OkStatus();
                }).ok());
  }

  // Runs `fn` in one transaction as "tester" at kNow.
  absl::Status Run(const std::function<absl::Status(RegistryWriter&)>& fn) {
    return store_->Transact([&](RegistryTx& tx) {
      RegistryWriter w(tx, kNow, caller_);
      return fn(w);
    });
  }

  std::vector<v1::AuditEntry> Audit() {
    std::vector<v1::AuditEntry> entries;
    EXPECT_TRUE(store_
                    ->Transact([&](RegistryTx& tx) {
                      auto e = tx.AuditEntriesAfter(0, 1000);
                      if (!e.ok()) return e.status();
                      entries = *e;
                      return absl::OkStatus();
                    })
                    .ok());
    return entries;
  }

  Caller caller_{"tester"};
  std::unique_ptr<SqliteRegistryStore> store_;
};

TEST_F(RegistryWriterTest, LookupsNameWhatIsMissing) {
  absl::Status s = Run([](RegistryWriter& w) {
    EXPECT_EQ(w.Model("nope").status().message(),
              "model \"nope\" is not registered; register it with "
              "RegisterModel");
    EXPECT_EQ(w.Version("fraud", 9).status().message(),
              "models/fraud/versions/9 does not exist");
    EXPECT_EQ(w.Version("fraud", 2)->size_bytes(), 200);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(RegistryWriterTest, TransitionsAreCheckedRecordedAndAudited) {
  ASSERT_TRUE(Run([](RegistryWriter& w) {
                absl::StatusOr<v1::Version> v = w.Version("fraud", 1);
                if (!v.ok()) return v.status();
                return w.Transition("fraud", &*v, S::VERSION_STATE_CANARY,
                                    "canary");
              }).ok());
  absl::Status illegal = Run([](RegistryWriter& w) {
    absl::StatusOr<v1::Version> v = w.Version("fraud", 1);
    if (!v.ok()) return v.status();
    return w.Transition("fraud", &*v, S::VERSION_STATE_ARCHIVED, "no");
  });
  EXPECT_EQ(illegal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(illegal.message(), "VERSION_STATE_CANARY"))
      << illegal;
  ASSERT_TRUE(
      Run([](RegistryWriter& w) {
        absl::StatusOr<v1::Version> v = w.Version("fraud", 1);
        if (!v.ok()) return v.status();
        EXPECT_EQ(v->state(), S::VERSION_STATE_CANARY);
        EXPECT_EQ(v->state_history_size(), 1);
        EXPECT_EQ(v->state_history(0).actor(), "tester");
        EXPECT_EQ(v->state_history(0).from_state(), S::VERSION_STATE_VALIDATED);
        EXPECT_EQ(core::FromProto(v->state_history(0).change_time()), kNow);
        return absl::OkStatus();
      }).ok());
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_EQ(entries.size(), 1u);  // The refused one left nothing.
  EXPECT_EQ(entries[0].action(), "version.transition");
  EXPECT_EQ(entries[0].object(), "models/fraud/versions/1");
  EXPECT_EQ(entries[0].actor(), "tester");
  EXPECT_TRUE(
      absl::StrContains(entries[0].after_json(), "VERSION_STATE_CANARY"));
  EXPECT_EQ(FindBrokenLink(entries), 0);
}

TEST_F(RegistryWriterTest, DeployMakesTheNextRevisionAndKeepsTheAliases) {
  v1::Deployment first;
  v1::Deployment second;
  ASSERT_TRUE(Run([&](RegistryWriter& w) {
                absl::StatusOr<v1::Model> model = w.Model("fraud");
                if (!model.ok()) return model.status();
                auto d = w.Deploy(&*model,
                                  {.stable = 1,
                                   .canary = 2,
                                   .canary_percent = 10,
                                   .shadow_percent = 50,
                                   .routing = v1::ROUTING_MODE_STICKY},
                                  "canary");
                if (!d.ok()) return d.status();
                first = *d;
                EXPECT_EQ(w.new_revision(), d->revision());
                EXPECT_EQ(model->aliases().at("production"), 1);
                EXPECT_EQ(model->aliases().at("canary"), 2);
                d = w.Deploy(&*model, {.stable = 2}, "promoted");
                if (!d.ok()) return d.status();
                second = *d;
                EXPECT_FALSE(model->aliases().contains("canary"));
                EXPECT_EQ(model->production_version(), 2);
                EXPECT_EQ(model->deployment_revision(), d->revision());
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(first.name(), "models/fraud/deployment");
  EXPECT_EQ(first.model(), "fraud");
  EXPECT_EQ(first.canary_percent(), 10);
  EXPECT_EQ(first.shadow_percent(), 0);  // No shadow version.
  EXPECT_EQ(first.actor(), "tester");
  ASSERT_EQ(first.artifacts_size(), 2);
  EXPECT_EQ(first.artifacts(1).role(), v1::SERVING_ROLE_CANARY);
  EXPECT_EQ(first.artifacts(1).size_bytes(), 200);
  EXPECT_EQ(second.revision(), first.revision() + 1);
  EXPECT_EQ(second.canary_version(), 0);
  // A version that does not exist cannot be deployed.
  absl::Status missing = Run([](RegistryWriter& w) {
    absl::StatusOr<v1::Model> model = w.Model("fraud");
    if (!model.ok()) return model.status();
    return w.Deploy(&*model, {.stable = 7}, "nope").status();
  });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace continuum::registry
