#include "tools/continuumctl/endpoints.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace continuum::ctl {
namespace {

using Lookup = std::map<std::string, std::string>;

std::function<std::optional<std::string>(const std::string&)> From(
    const Lookup& values) {
  return [values](const std::string& key) -> std::optional<std::string> {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

constexpr char kFile[] =
    "# written by continuum-up\n"
    "CONTINUUM_REGISTRY=127.0.0.1:40001\n"
    "CONTINUUM_REGISTRY_METRICS=127.0.0.1:40002\n"
    "  CONTINUUM_COLLECTOR = 127.0.0.1:40003  \n"
    "not a line\n"
    "CONTINUUM_TLS_CA=/d/tls/ca.pem\n"
    "CONTINUUM_TLS_CERT=/d/tls/client.pem\n"
    "CONTINUUM_TLS_KEY=/d/tls/client.key\n";

TEST(EndpointsTest, ParsesKeyValueLines) {
  std::map<std::string, std::string> v = ParseEndpoints(kFile);
  EXPECT_EQ(v.size(), 6u);
  EXPECT_EQ(v["CONTINUUM_COLLECTOR"], "127.0.0.1:40003");
  EXPECT_EQ(v.count("not a line"), 0u);
}

TEST(EndpointsTest, TheEnvironmentComesFirst) {
  std::optional<Endpoint> e = DefaultEndpoint(
      "registry",
      From({{"CONTINUUM_REGISTRY", "10.0.0.5:50051"},
            {"CONTINUUM_TLS_CA", "/etc/ca.pem"}}),
      From({{"data/endpoints.env", kFile}}));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->target, "10.0.0.5:50051");
  EXPECT_EQ(e->source, "CONTINUUM_REGISTRY");
  EXPECT_EQ(e->tls_ca, "/etc/ca.pem");
  EXPECT_EQ(e->tls_cert, "");  // Not mixed with the file's.
}

TEST(EndpointsTest, ThenTheFileTheEnvironmentNamesOrDataEndpointsEnv) {
  std::optional<Endpoint> e =
      DefaultEndpoint("collector", From({}), From({{"data/endpoints.env", kFile}}));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->target, "127.0.0.1:40003");
  EXPECT_EQ(e->source, "data/endpoints.env");
  EXPECT_EQ(e->tls_ca, "/d/tls/ca.pem");
  EXPECT_EQ(e->tls_cert, "/d/tls/client.pem");
  EXPECT_EQ(e->tls_key, "/d/tls/client.key");

  e = DefaultEndpoint("registry", From({{"CONTINUUM_ENDPOINTS", "/x/e.env"}}),
                      From({{"/x/e.env", "CONTINUUM_REGISTRY=h:1\n"},
                            {"data/endpoints.env", kFile}}));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->target, "h:1");
  EXPECT_EQ(e->source, "/x/e.env");
}

TEST(EndpointsTest, NothingWhenNeitherNamesTheService) {
  EXPECT_FALSE(DefaultEndpoint("trainer", From({}), From({{"data/endpoints.env", kFile}}))
                   .has_value());
  EXPECT_FALSE(DefaultEndpoint("registry", From({}), From({})).has_value());
  // An empty variable does not count.
  EXPECT_EQ(DefaultEndpoint("registry", From({{"CONTINUUM_REGISTRY", ""}}),
                            From({{"data/endpoints.env", kFile}}))
                ->target,
            "127.0.0.1:40001");
}

}  // namespace
}  // namespace continuum::ctl
