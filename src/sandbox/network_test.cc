#include "network.h"

#include <gtest/gtest.h>

namespace kiln::sandbox {
namespace {

TEST(NetworkRulesTest, ParsesCidrsAndBareAddresses) {
  Result<Ipv4Cidr> c = ParseIpv4Cidr("f", "10.1.2.3/16");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->address, 0x0a010000u);  // masked to the prefix
  EXPECT_EQ(c->prefix, 16);
  c = ParseIpv4Cidr("f", "192.0.2.7");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix, 32);
  c = ParseIpv4Cidr("f", "0.0.0.0/0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address, 0u);
  EXPECT_EQ(c->prefix, 0);
}

TEST(NetworkRulesTest, BadEntriesNameTheFieldAndTheText) {
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "example.com", "::1/128", "1.2.3.4/-1", ""}) {
    Result<Ipv4Cidr> c = ParseIpv4Cidr("network.allow_out[2]", bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find("network.allow_out[2]"), std::string::npos);
    EXPECT_NE(c.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
  EXPECT_NE(ParseIpv4Cidr("f", "fd00::/8").status().message().find("IPv6"), std::string::npos);
}

bool Has(const std::vector<EgressRoute>& routes, const char* cidr, bool allow) {
  Ipv4Cidr c = *ParseIpv4Cidr("t", cidr);
  for (const EgressRoute& r : routes)
    if (r.destination == c) return r.allow == allow;
  return false;
}

TEST(NetworkRulesTest, PrivateAndMetadataDeniedUnlessAllowed) {
  Result<std::vector<EgressRoute>> routes = PlanEgressRoutes({});
  ASSERT_TRUE(routes.ok());
  for (const char* cidr :
       {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"})
    EXPECT_TRUE(Has(*routes, cidr, false)) << cidr;
  routes = PlanEgressRoutes({.allow_out = {"10.0.0.0/8", "8.8.8.8"}, .deny_out = {"1.1.1.0/24"}});
  ASSERT_TRUE(routes.ok());
  EXPECT_TRUE(Has(*routes, "10.0.0.0/8", true));  // allow wins a tie, replacing the default denial
  EXPECT_TRUE(Has(*routes, "8.8.8.8/32", true));
  EXPECT_TRUE(Has(*routes, "1.1.1.0/24", false));
  EXPECT_TRUE(Has(*routes, "192.168.0.0/16", false));
}

TEST(NetworkRulesTest, SpecValidateRejectsABadRule) {
  SandboxSpec spec;
  spec.network_rules.deny_out = {"1.2.3.4/8", "nope"};
  Status s = spec.Validate();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("network.deny_out[1]"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace kiln::sandbox
