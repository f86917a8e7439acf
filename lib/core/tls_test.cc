// TLS of ServiceServer and of the service channels, with certificates minted
// by the openssl CLI (deploy/local/mint-certs) and real loopback sockets:
// a client with the CA is served and one without TLS is not; mutual TLS
// refuses a client without a certificate; a rotated certificate reaches new
// connections without a restart while an open connection keeps working;
// configurations that name a bad file or half a key pair are refused,
// naming the field and the file.
#include "lib/core/tls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "continuum/testing/v1/echo.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "tests/util/echo_service.h"
#include "tests/util/subprocess.h"

namespace continuum::core {
namespace {

using ::continuum::testing::v1::EchoRequest;
using ::continuum::testing::v1::EchoResponse;
using ::continuum::testing::v1::EchoService;

// Runs deploy/local/mint-certs DIR NAMES...; fails the test if it fails.
void Mint(const std::string& dir, const std::string& names) {
  const std::string command = absl::StrCat(
      CONTINUUM_SOURCE_DIR, "/deploy/local/mint-certs ", dir, " ", names);
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = testing::ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("tls_test_");
    ASSERT_NO_FATAL_FAILURE(Mint(dir_, "server client"));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  config::v1::TlsConfig ServerTls(bool require_client_certificate) {
    config::v1::TlsConfig tls;
    tls.set_key_file(dir_ + "/server.key");
    tls.set_certificate_file(dir_ + "/server.pem");
    tls.set_ca_file(dir_ + "/ca.pem");
    tls.set_require_client_certificate(require_client_certificate);
    tls.mutable_reload_interval()->set_seconds(1);
    return tls;
  }

  void StartServer(const config::v1::TlsConfig& tls,
                   const std::string& health_listen = "") {
    ServiceServer::Options options;
    options.service = "collector";
    options.config = DefaultServerConfig("collector");
    *options.config.mutable_tls() = tls;
    options.config.set_health_listen(health_listen);
    options.services = {&echo_};
    auto server = ServiceServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // grpc's own SSL credentials (not ours): the CA and, optionally, the
  // client's key pair.
  std::shared_ptr<grpc::ChannelCredentials> SslClient(bool with_certificate) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Read(dir_ + "/ca.pem");
    if (with_certificate) {
      options.pem_private_key = Read(dir_ + "/client.key");
      options.pem_cert_chain = Read(dir_ + "/client.pem");
    }
    return grpc::SslCredentials(options);
  }

  std::shared_ptr<grpc::Channel> Channel(
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    return grpc::CreateChannel(server_->address(), credentials);
  }

  // One Echo call on `channel`; the server certificate's common name in
  // *server_name when given.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel,
                           std::string* server_name = nullptr) {
    auto stub = EchoService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    EchoRequest request;
    request.set_payload("ping");
    EchoResponse response;
    grpc::Status s = stub->Echo(&context, request, &response);
    if (s.ok() && server_name != nullptr) {
      std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
      auto names = auth->FindPropertyValues("x509_common_name");
      *server_name = names.empty() ? "" : std::string(names[0].data(),
                                                      names[0].size());
    }
    return s;
  }

  std::string dir_;
  continuum::testing::EchoService echo_;
  std::unique_ptr<ServiceServer> server_;
};

TEST_F(TlsTest, ClientsWithTheCaAreServedAndPlaintextClientsAreNot) {
  ASSERT_NO_FATAL_FAILURE(StartServer(ServerTls(false)));
  std::string name;
  grpc::Status s = Call(Channel(SslClient(false)), &name);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(name, "server");
  // A client certificate is verified when given.
  EXPECT_TRUE(Call(Channel(SslClient(true))).ok());
  EXPECT_FALSE(Call(Channel(grpc::InsecureChannelCredentials())).ok());
  // A client that trusts another CA does not connect.
  const std::string other = dir_ + "/other";
  ASSERT_NO_FATAL_FAILURE(Mint(other, "x"));
  grpc::SslCredentialsOptions wrong;
  wrong.pem_root_certs = Read(other + "/ca.pem");
  EXPECT_FALSE(Call(Channel(grpc::SslCredentials(wrong))).ok());
}

// grpc.health.v1 Check of the "" service over a plaintext channel to
// `port`: the status, or the call's error as -1 - code.
int PlaintextHealth(int port) {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status s = stub->Check(&context, request, &response);
  return s.ok() ? response.status() : -1 - s.error_code();
}

TEST_F(TlsTest, TheHealthPortAnswersProbesInPlaintextAndNothingElse) {
  ASSERT_NO_FATAL_FAILURE(StartServer(ServerTls(true), "127.0.0.1:0"));
  const int health = server_->health_port();
  ASSERT_GT(health, 0);
  ASSERT_NE(health, server_->port());
  // Kubernetes' gRPC probes speak plaintext: the TLS port refuses them, the
  // health port answers with the server's status, and follows it.
  EXPECT_LT(PlaintextHealth(server_->port()), 0);
  EXPECT_EQ(PlaintextHealth(health),
            grpc::health::v1::HealthCheckResponse::SERVING);
  server_->SetServing(false);
  EXPECT_EQ(PlaintextHealth(health),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  server_->SetServing(true);
  EXPECT_EQ(PlaintextHealth(health),
            grpc::health::v1::HealthCheckResponse::SERVING);
  // Nothing but health is served there: the service's methods are not.
  auto stub = EchoService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", health), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  EchoRequest request;
  EchoResponse response;
  EXPECT_EQ(stub->Echo(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // A drain reports NOT_SERVING there too, then closes it.
  server_->Shutdown(absl::ZeroDuration());
  EXPECT_NE(PlaintextHealth(health),
            grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificate) {
  ASSERT_NO_FATAL_FAILURE(StartServer(ServerTls(true)));
  EXPECT_FALSE(Call(Channel(SslClient(false))).ok());
  EXPECT_TRUE(Call(Channel(SslClient(true))).ok());
  // The services' own client credentials (ChannelCredentialsFor) present
  // the service's certificate: the client's key pair here.
  config::v1::TlsConfig client;
  client.set_key_file(dir_ + "/client.key");
  client.set_certificate_file(dir_ + "/client.pem");
  client.set_ca_file(dir_ + "/ca.pem");
  grpc::Status s = Call(Channel(ChannelCredentialsFor(client)));
  EXPECT_TRUE(s.ok()) << s.error_message();
  // A certificate from another CA is refused.
  const std::string other = dir_ + "/other";
  ASSERT_NO_FATAL_FAILURE(Mint(other, "intruder"));
  grpc::SslCredentialsOptions intruder;
  intruder.pem_root_certs = Read(dir_ + "/ca.pem");
  intruder.pem_private_key = Read(other + "/intruder.key");
  intruder.pem_cert_chain = Read(other + "/intruder.pem");
  EXPECT_FALSE(Call(Channel(grpc::SslCredentials(intruder))).ok());
}

TEST_F(TlsTest, ARotatedCertificateIsServedWithoutARestart) {
  ASSERT_NO_FATAL_FAILURE(StartServer(ServerTls(false)));
  std::shared_ptr<grpc::Channel> open = Channel(SslClient(false));
  std::string name;
  ASSERT_TRUE(Call(open, &name).ok());
  ASSERT_EQ(name, "server");
  // A new key pair (CN "rotated") replaces the files in place.
  ASSERT_NO_FATAL_FAILURE(Mint(dir_, "rotated"));
  std::filesystem::rename(dir_ + "/rotated.key", dir_ + "/server.key");
  std::filesystem::rename(dir_ + "/rotated.pem", dir_ + "/server.pem");
  // New connections see it once the provider re-read the files (every
  // second here).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string seen;
  while (absl::Now() < deadline) {
    ASSERT_TRUE(Call(Channel(SslClient(false)), &seen).ok());
    if (seen == "rotated") break;
    absl::SleepFor(absl::Milliseconds(100));  // The next file check.
  }
  EXPECT_EQ(seen, "rotated");
  // The connection opened before the rotation still works.
  std::string still;
  EXPECT_TRUE(Call(open, &still).ok());
  EXPECT_EQ(still, "server");
}

TEST_F(TlsTest, BadConfigurationsAreRefusedNamingTheFieldAndFile) {
  config::v1::TlsConfig tls;
  EXPECT_TRUE(ValidateTlsConfig(tls).ok());
  EXPECT_FALSE(TlsEnabled(tls));
  tls.set_key_file(dir_ + "/server.key");
  EXPECT_EQ(ValidateTlsConfig(tls).message(),
            "server.tls.certificate_file: set key_file and certificate_file "
            "together");
  tls.set_certificate_file(dir_ + "/server.pem");
  tls.set_require_client_certificate(true);
  EXPECT_EQ(ValidateTlsConfig(tls).message(),
            "server.tls.require_client_certificate: needs ca_file to verify "
            "client certificates with");
  tls.set_ca_file(dir_ + "/ca.pem");
  tls.mutable_reload_interval()->set_nanos(500000000);
  EXPECT_EQ(ValidateTlsConfig(tls).message(),
            "server.tls.reload_interval: must be at least 1s");
  tls.clear_reload_interval();
  EXPECT_TRUE(ValidateTlsConfig(tls).ok());
  EXPECT_TRUE(CheckTlsFiles(tls).ok());

  config::v1::TlsConfig ca_only;
  ca_only.set_ca_file(dir_ + "/ca.pem");
  EXPECT_TRUE(absl::StartsWith(ValidateTlsConfig(ca_only).message(),
                               "server.tls.ca_file: needs key_file"));

  tls.set_key_file(dir_ + "/missing.key");
  absl::Status s = CheckTlsFiles(tls);
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_EQ(s.message(), absl::StrCat("server.tls.key_file: cannot read ",
                                      dir_, "/missing.key: No such file or "
                                            "directory"));
  ASSERT_TRUE(testing::ReadFile(dir_ + "/ca.srl").ok());
  tls.set_key_file(dir_ + "/server.key");
  tls.set_ca_file(dir_ + "/ca.srl");  // Not PEM.
  EXPECT_EQ(CheckTlsFiles(tls).message(),
            absl::StrCat("server.tls.ca_file: ", dir_,
                         "/ca.srl is not PEM (no -----BEGIN line)"));

  // The server refuses to start with it, naming the file.
  ServiceServer::Options options;
  options.service = "collector";
  options.config = DefaultServerConfig("collector");
  *options.config.mutable_tls() = tls;
  options.services = {&echo_};
  auto server = ServiceServer::Start(std::move(options));
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "ca.srl"))
      << server.status();
}

TEST_F(TlsTest, TheStartUpLineSaysWhetherTlsIsOn) {
  EXPECT_TRUE(absl::StartsWith(DescribeTls({}), "insecure: plaintext gRPC"));
  EXPECT_EQ(DescribeTls(ServerTls(true)),
            absl::StrCat("TLS on: certificate ", dir_,
                         "/server.pem, client certificates required (CA ",
                         dir_, "/ca.pem), files re-read every 1 s"));
}

}  // namespace
}  // namespace continuum::core
