#include "lib/core/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "continuum/config/v1/registry_config.pb.h"

namespace continuum::core {
namespace {

using config::v1::RegistryConfig;

RegistryConfig Defaults() {
  RegistryConfig config;
  *config.mutable_server() = DefaultServerConfig("registry");
  return config;
}

TEST(ConfigTest, DefaultsAreValidAndNamed) {
  config::v1::ServerConfig server = DefaultServerConfig("registry");
  EXPECT_EQ(server.listen(), "127.0.0.1:0");
  EXPECT_EQ(server.metrics_listen(), "127.0.0.1:0");
  EXPECT_EQ(server.data_dir(), "./data/registry");
  EXPECT_EQ(server.shutdown_grace().seconds(), 10);
  EXPECT_EQ(server.log().level(), "info");
  EXPECT_TRUE(ValidateServerConfig(server).ok());
}

TEST(ConfigTest, GoodFileOverridesOnlyTheFieldsItNames) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig(R"pb(
                                     # A comment.
                                     server {
                                       listen: "0.0.0.0:50051"
                                       shutdown_grace { seconds: 3 }
                                       log { format: LOG_FORMAT_JSON }
                                     }
                                   )pb",
                                   "registry.pbtxt", &config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(config.server().listen(), "0.0.0.0:50051");
  EXPECT_EQ(config.server().shutdown_grace().seconds(), 3);
  EXPECT_EQ(config.server().log().format(), config::v1::LOG_FORMAT_JSON);
  // Untouched fields keep their defaults.
  EXPECT_EQ(config.server().metrics_listen(), "127.0.0.1:0");
  EXPECT_EQ(config.server().log().level(), "info");
  EXPECT_EQ(config.server().data_dir(), "./data/registry");
}

TEST(ConfigTest, ExplicitEmptyValueOverridesDefault) {
  RegistryConfig config = Defaults();
  ASSERT_TRUE(
      MergeTextConfig("server { metrics_listen: \"\" }", "f.pbtxt", &config)
          .ok());
  EXPECT_EQ(config.server().metrics_listen(), "");
}

TEST(ConfigTest, UnknownFieldNamesFileLineAndField) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig("server {\n  listn: \"x\"\n}\n",
                                   "registry.pbtxt", &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "registry.pbtxt:2:")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "listn")) << s;
}

TEST(ConfigTest, BadValueNamesFileLineAndProblem) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig(
      "server {\n  max_message_bytes: \"lots\"\n}\n", "r.pbtxt", &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "r.pbtxt:2:")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "max_message_bytes")) << s;
}

TEST(ConfigTest, BadEnumValueIsRejected) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig("server { log { format: LOG_FORMAT_XML } }",
                                   "r.pbtxt", &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "LOG_FORMAT_XML")) << s;
}

TEST(ConfigTest, SingularFieldTwiceIsRejected) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig(
      "server { listen: \"a:1\"\n listen: \"b:2\" }", "r.pbtxt", &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "r.pbtxt:2:")) << s;
}

TEST(ConfigTest, MessageFieldTwiceIsRejected) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig("server { listen: \"a:1\" }\nserver { }",
                                   "r.pbtxt", &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "r.pbtxt:2:")) << s;
}

TEST(ConfigTest, SyntaxErrorIsRejected) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeTextConfig("server { listen: ", "r.pbtxt", &config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "r.pbtxt:1:")) << s;
}

TEST(ConfigTest, MissingFileIsNotFound) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeConfigFile("/nonexistent/registry.pbtxt", &config);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "/nonexistent/registry.pbtxt"));
}

TEST(ConfigTest, FileIsReadAndErrorsNameIt) {
  std::string path = ::testing::TempDir() + "/config_test.pbtxt";
  {
    std::ofstream out(path);
    out << "server {\n  data_dir: \"/var/lib/continuum\"\n"
        << "  bogus: 1\n}\n";
  }
  RegistryConfig config = Defaults();
  absl::Status s = MergeConfigFile(path, &config);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), path + ":3:")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "bogus")) << s;

  {
    std::ofstream out(path);
    out << "server { data_dir: \"/var/lib/continuum\" }\n";
  }
  config = Defaults();
  ASSERT_TRUE(MergeConfigFile(path, &config).ok());
  EXPECT_EQ(config.server().data_dir(), "/var/lib/continuum");
  std::remove(path.c_str());
}

TEST(ConfigTest, ValidationNamesTheField) {
  struct Case {
    std::string text;
    std::string field;
  };
  const Case cases[] = {
      {"listen: \"nohost\"", "server.listen"},
      {"listen: \":80\"", "server.listen"},
      {"listen: \"127.0.0.1:70000\"", "server.listen"},
      {"listen: \"::1:80\"", "server.listen"},
      {"metrics_listen: \"localhost:x\"", "server.metrics_listen"},
      {"data_dir: \"\"", "server.data_dir"},
      {"shutdown_grace { seconds: -1 }", "server.shutdown_grace"},
      {"max_message_bytes: 10", "server.max_message_bytes"},
      {"log { level: \"loud\" }", "server.log.level"},
  };
  for (const Case& c : cases) {
    config::v1::ServerConfig server = DefaultServerConfig("registry");
    ASSERT_TRUE(MergeTextConfig(c.text, "t", &server).ok()) << c.text;
    absl::Status s = ValidateServerConfig(server);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(absl::StartsWith(s.message(), c.field)) << c.text << ": " << s;
  }
}

TEST(ConfigTest, LocationsNameTheLineOfAField) {
  RegistryConfig config = Defaults();
  ConfigLocations locations;
  ASSERT_TRUE(MergeTextConfig("# comment\nserver {\n  log { level: \"loud\" }\n"
                              "  listen: \"x\"\n}\n",
                              "r.pbtxt", &config, &locations)
                  .ok());
  EXPECT_EQ(locations.Find(config.GetDescriptor(), "server.listen"),
            "r.pbtxt:4:3");
  EXPECT_EQ(locations.Find(config.GetDescriptor(), "server.log.level"),
            "r.pbtxt:3:9");
  EXPECT_EQ(locations.Find(config.GetDescriptor(), "server.data_dir"), "");
  EXPECT_EQ(locations.Find(config.GetDescriptor(), "server.nope"), "");
}

TEST(ConfigTest, DirectoryIsNotAConfig) {
  RegistryConfig config = Defaults();
  absl::Status s = MergeConfigFile(::testing::TempDir(), &config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "is a directory")) << s;
}

TEST(ConfigTest, HostPortForms) {
  EXPECT_TRUE(ValidateHostPort("127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateHostPort("localhost:50051").ok());
  EXPECT_TRUE(ValidateHostPort("[::1]:8080").ok());
  EXPECT_TRUE(ValidateHostPort("0.0.0.0:65535").ok());
  EXPECT_FALSE(ValidateHostPort("127.0.0.1").ok());
  EXPECT_FALSE(ValidateHostPort("127.0.0.1:-1").ok());
  EXPECT_FALSE(ValidateHostPort("[::1:80").ok());
}

}  // namespace
}  // namespace continuum::core
