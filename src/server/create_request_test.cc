// ParseCreateRequest on the bodies the SDKs send (e2b-protocol.md 3.2) and on bodies that are wrong.
#include "create_request.h"

#include <gtest/gtest.h>

namespace kiln::server {
namespace {

control::CreateRequest Parsed(std::string_view body, CreatePath path = CreatePath::kV2) {
  Result<control::CreateRequest> r = ParseCreateRequest(body, path);
  EXPECT_TRUE(r.ok()) << body << ": " << r.status().ToString();
  return r.ok() ? *r : control::CreateRequest{};
}

std::string ErrorOf(std::string_view body) {
  Result<control::CreateRequest> r = ParseCreateRequest(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? "" : r.status().message();
}

// e2b 2.51's Sandbox.create({ metadata, envs, timeoutMs: 120_000, allowInternetAccess: true, network, ... }).
TEST(CreateRequestTest, ReadsWhatTheV2SdkSends) {
  control::CreateRequest r = Parsed(R"({"templateID":"code-interpreter-v1","metadata":{"suite":"e2e"},
      "envVars":{"GREETING":"hi"},"timeout":120,"allow_internet_access":true,
      "network":{"allowOut":["10.1.2.0/24"],"denyOut":["1.2.3.0/24"],"allowPublicTraffic":false,
                 "maskRequestHost":"x","httpsPorts":[443]},
      "mcp":{"exa":{}},"iam":{"tokens":{}},"autoPause":true,"autoPauseMemory":true,
      "autoResume":{"enabled":true},"volumeMounts":[{"name":"v","path":"/data"}]})");
  EXPECT_EQ(r.template_id, "code-interpreter-v1");
  EXPECT_EQ(r.metadata, (std::map<std::string, std::string>{{"suite", "e2e"}}));
  EXPECT_EQ(r.env_vars, (std::map<std::string, std::string>{{"GREETING", "hi"}}));
  EXPECT_EQ(r.timeout_s, 120);
  EXPECT_EQ(r.allow_internet_access, true);
  EXPECT_EQ(r.network_rules.allow_out, std::vector<std::string>{"10.1.2.0/24"});
  EXPECT_EQ(r.network_rules.deny_out, std::vector<std::string>{"1.2.3.0/24"});
  EXPECT_FALSE(r.allow_public_traffic);
  EXPECT_TRUE(r.auto_pause);
}

// An empty body too: `curl -X POST .../sandboxes` makes a base sandbox.
TEST(CreateRequestTest, WhatIsLeftOutOrNullTakesTheDefaults) {
  for (std::string_view body : {"", R"({})", R"({"templateID":null,"timeout":null,"metadata":null,
      "envVars":null,"allow_internet_access":null,"network":null,"autoPause":null})"}) {
    control::CreateRequest r = Parsed(body);
    EXPECT_EQ(r.template_id, "base") << body;
    EXPECT_FALSE(r.timeout_s.has_value()) << body;
    EXPECT_TRUE(r.metadata.empty() && r.env_vars.empty()) << body;
    EXPECT_FALSE(r.allow_internet_access.has_value()) << body;
    EXPECT_TRUE(r.allow_public_traffic) << body;
    EXPECT_FALSE(r.auto_pause) << body;
  }
}

TEST(CreateRequestTest, EitherNameForInternetAccessAndTheyMustAgree) {
  EXPECT_EQ(Parsed(R"({"allow_internet_access":false})").allow_internet_access, false);
  EXPECT_EQ(Parsed(R"({"allowInternetAccess":true})").allow_internet_access, true);
  EXPECT_EQ(Parsed(R"({"allowInternetAccess":true,"allow_internet_access":true})").allow_internet_access,
            true);
  EXPECT_NE(ErrorOf(R"({"allowInternetAccess":true,"allow_internet_access":false})").find("contradicts"),
            std::string::npos);
}

// The legacy SDK sends allow_internet_access true unless told false: there only false counts as asked.
TEST(CreateRequestTest, TheLegacyPathTakesOnlyAFalseInternetAccessAsSaid) {
  const std::string legacy_default = R"({"templateID":"base","timeout":300,"secure":true,
      "allow_internet_access":true})";
  EXPECT_FALSE(Parsed(legacy_default, CreatePath::kLegacy).allow_internet_access.has_value());
  EXPECT_EQ(Parsed(legacy_default, CreatePath::kV2).allow_internet_access, true);
  EXPECT_EQ(Parsed(R"({"allow_internet_access":false})", CreatePath::kLegacy).allow_internet_access, false);
}

TEST(CreateRequestTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"templateID":7})").rfind("templateID", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"timeout":"soon"})").rfind("timeout", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"metadata":{"a":1}})").rfind("metadata", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"envVars":["A=1"]})").rfind("envVars", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"allow_internet_access":"yes"})").rfind("allow_internet_access", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"autoPause":1})").rfind("autoPause", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"network":[]})").rfind("network", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"network":{"allowOut":"10.0.0.0/8"}})").rfind("network.allowOut", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"network":{"denyOut":[1]}})").rfind("network.denyOut", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"network":{"allowPublicTraffic":"no"}})").rfind("network.allowPublicTraffic", 0), 0u);
}

TEST(CreateRequestTest, TextThatIsNotOneJsonObjectSaysSo) {
  for (std::string_view body : {"[]", "\"base\"", "{\"templateID\":", "{} {}", "null"})
    EXPECT_EQ(ErrorOf(body).rfind("request body", 0), 0u) << body;
}

}  // namespace
}  // namespace kiln::server
