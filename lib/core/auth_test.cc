#include "lib/core/auth.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/drift.pb.h"
#include "continuum/v1/federated.pb.h"
#include "continuum/v1/inference.pb.h"
#include "continuum/v1/registry.pb.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::core {
namespace {

// sha256("viewer-secret") and sha256("ops-secret").
const std::string kViewerHash = TokenHash("viewer-secret");
const std::string kOpsHash = TokenHash("ops-secret");

std::string File() {
  return absl::StrCat("# identities\n", "token sha256:", kViewerHash,
                      " alice viewer\n", "token sha256:", kOpsHash,
                      " bob operator,producer   # two roles\n\n",
                      "certificate trainer trainer\n");
}

TEST(AuthTest, TokenHashIsSha256Hex) {
  EXPECT_EQ(TokenHash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTest, TheIdentitiesFileMapsTokensAndCertificatesToRoles) {
  absl::StatusOr<IdentityTable> table = IdentityTable::Parse(File());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  auto alice = table->ForToken("viewer-secret");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->subject, "alice");
  EXPECT_EQ(alice->roles, (std::set<std::string>{"viewer"}));
  auto bob = table->ForToken("ops-secret");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->roles, (std::set<std::string>{"operator", "producer"}));
  EXPECT_FALSE(table->ForToken(kViewerHash).has_value());  // not the hash
  EXPECT_FALSE(table->ForToken("other").has_value());
  auto trainer = table->ForCertificate("trainer");
  ASSERT_TRUE(trainer.has_value());
  EXPECT_EQ(trainer->subject, "cert:trainer");
  EXPECT_FALSE(table->ForCertificate("drift").has_value());
}

TEST(AuthTest, BadLinesAreNamed) {
  auto error = [](const std::string& text) {
    return std::string(IdentityTable::Parse(text).status().message());
  };
  EXPECT_EQ(error("token viewer-secret alice viewer\n"),
            "identities file line 1: a token is listed as sha256: and its "
            "64-digit hex SHA-256, never as the token itself");
  EXPECT_EQ(error(absl::StrCat("\ntoken sha256:", kViewerHash, " a root\n")),
            "identities file line 2: unknown role 'root' (known: admin, "
            "operator, pod, producer, site, trainer, viewer)");
  EXPECT_EQ(error("user x viewer\n"),
            "identities file line 1: unknown kind 'user' (token or "
            "certificate)");
  EXPECT_TRUE(absl::StrContains(
      error(absl::StrCat("token sha256:", kViewerHash, " a viewer\n",
                         "token sha256:", kViewerHash, " b viewer\n")),
      "line 2: this token is listed twice"));
  EXPECT_TRUE(absl::StrContains(error("certificate x\n"), "expected"));
  EXPECT_TRUE(IdentityTable::Parse("# nothing\n\n").ok());
}

// Every method of every service has an entry in the default policy, or is
// one of the admin-only methods named here: a new method cannot be open or
// closed by accident.
TEST(AuthTest, EveryMethodHasADefaultPolicy) {
  const std::set<std::string> admin_only = {"DeleteDataset", "ExportAudit"};
  int methods = 0;
  // The messages below link each service's file into the generated pool.
  const google::protobuf::FileDescriptor* files[] = {
      v1::IngestRequest::descriptor()->file(),
      v1::RegisterModelRequest::descriptor()->file(),
      v1::TriggerRunRequest::descriptor()->file(),
      v1::PredictRequest::descriptor()->file(),
      v1::ObserveRequest::descriptor()->file(),
      v1::StartRoundRequest::descriptor()->file()};
  for (const google::protobuf::FileDescriptor* file : files) {
    ASSERT_EQ(file->service_count(), 1) << file->name();
    const google::protobuf::ServiceDescriptor* service = file->service(0);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string name = service->method(i)->name();
      ++methods;
      EXPECT_TRUE(DefaultMethodRoles().count(name) > 0 ||
                  admin_only.count(name) > 0)
          << name;
      EXPECT_FALSE(DefaultMethodRoles().count(name) > 0 &&
                   admin_only.count(name) > 0)
          << name;
    }
  }
  EXPECT_GT(methods, 50);
}

TEST(AuthTest, RolesDecidePerMethod) {
  absl::StatusOr<MethodPolicy> policy = MethodPolicy::Create({});
  ASSERT_TRUE(policy.ok());
  const Identity viewer{"alice", {"viewer"}};
  const Identity producer{"sensor", {"producer"}};
  const Identity op{"bob", {"operator"}};
  const Identity trainer{"cert:trainer", {"trainer"}};
  const Identity admin{"root", {"admin"}};
  const Identity site{"site-eu", {"site"}};
  struct Case {
    const Identity& who;
    const char* path;
    bool allowed;
  };
  const Case cases[] = {
      {viewer, "/continuum.v1.RegistryService/ListModels", true},
      {viewer, "/continuum.v1.InferenceService/Predict", true},
      {viewer, "/continuum.v1.RegistryService/Promote", false},
      {viewer, "/continuum.v1.CollectorService/Ingest", false},
      {viewer, "/continuum.v1.CollectorService/Scan", false},
      {producer, "/continuum.v1.CollectorService/IngestBatch", true},
      {producer, "/continuum.v1.DriftService/Observe", true},
      {producer, "/continuum.v1.RegistryService/ListModels", false},
      {op, "/continuum.v1.RegistryService/Rollback", true},
      {op, "/continuum.v1.TrainerService/TriggerRun", true},
      {op, "/continuum.v1.RegistryService/UploadVersion", false},
      {op, "/continuum.v1.CollectorService/DeleteDataset", false},
      {op, "/continuum.v1.RegistryService/ExportAudit", false},
      {trainer, "/continuum.v1.CollectorService/SampleReplay", true},
      {trainer, "/continuum.v1.RegistryService/UploadVersion", true},
      {trainer, "/continuum.v1.RegistryService/Promote", false},
      {site, "/continuum.v1.FederatedService/SubmitUpdate", true},
      {site, "/continuum.v1.FederatedService/StartRound", false},
      {admin, "/continuum.v1.CollectorService/DeleteDataset", true},
      {admin, "/continuum.v1.RegistryService/ExportAudit", true},
      {admin, "/continuum.v1.Unknown/Anything", true},
      {op, "/continuum.v1.Unknown/Anything", false},
  };
  for (const Case& c : cases) {
    absl::Status s = policy->Check(c.who, c.path);
    EXPECT_EQ(s.ok(), c.allowed) << c.who.subject << " " << c.path << ": "
                                 << s;
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsPermissionDenied(s));
    }
  }
  EXPECT_EQ(policy->Check(viewer, "/continuum.v1.RegistryService/Promote")
                .message(),
            "alice (roles viewer) may not call "
            "/continuum.v1.RegistryService/Promote: it needs one of the roles "
            "admin, operator");
  EXPECT_TRUE(MethodPolicy::IsOpen("/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(MethodPolicy::IsOpen(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_FALSE(MethodPolicy::IsOpen("/continuum.v1.RegistryService/GetModel"));
}

TEST(AuthTest, ConfigReplacesAMethodsRolesAndNamesBadRoles) {
  config::v1::AuthConfig config;
  (*config.mutable_method_roles())["Promote"].add_roles("viewer");
  absl::StatusOr<MethodPolicy> policy = MethodPolicy::Create(config);
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->Check({"a", {"viewer"}},
                            "/continuum.v1.RegistryService/Promote")
                  .ok());
  EXPECT_FALSE(policy->Check({"b", {"operator"}},
                             "/continuum.v1.RegistryService/Promote")
                   .ok());
  (*config.mutable_method_roles())["Rollback"].add_roles("root");
  EXPECT_EQ(MethodPolicy::Create(config).status().message(),
            "server.auth.method_roles[Rollback]: unknown role 'root'");
  config::v1::AuthConfig delegating;
  delegating.add_delegating_roles("chief");
  EXPECT_FALSE(MethodPolicy::Create(delegating).ok());
}

TEST(AuthTest, OnlyDelegatingRolesMayNameAnotherActor) {
  absl::StatusOr<MethodPolicy> policy = MethodPolicy::Create({});
  ASSERT_TRUE(policy.ok());
  const Identity admin{"gateway", {"admin"}};
  const Identity op{"bob", {"operator"}};
  EXPECT_TRUE(policy->MayDelegate(admin));
  EXPECT_FALSE(policy->MayDelegate(op));
  EXPECT_EQ(RecordedActor(admin, "carol", true), "gateway on behalf of carol");
  EXPECT_EQ(RecordedActor(op, "carol", false), "bob");
  EXPECT_EQ(RecordedActor(op, "", false), "bob");
  EXPECT_EQ(RecordedActor(admin, "gateway", true), "gateway");
}

}  // namespace
}  // namespace continuum::core
