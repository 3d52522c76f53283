// URL pieces and plane routing, without sockets.
#include <gtest/gtest.h>

#include "query.h"
#include "routing.h"

namespace kiln::server {
namespace {

TEST(QueryTest, MetadataFilterIsDecodedThreeTimesAsTheSdkEncodesIt) {
  // Captured from e2b 2.51.0 for {k: 'v w', 'a&b': 'c=d'} (e2b-protocol.md 3.2).
  auto target = ParseTarget("/v2/sandboxes?metadata=k%3Dv%252520w%26a%252526b%3Dc%25253Dd&limit=1");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->path, "/v2/sandboxes");
  EXPECT_EQ(target->query.at("limit"), "1");
  auto filter = DecodeMetadataFilter(target->query.at("metadata"));
  ASSERT_TRUE(filter.ok()) << filter.status().ToString();
  std::map<std::string, std::string> expected = {{"k", "v w"}, {"a&b", "c=d"}};
  EXPECT_EQ(*filter, expected);
  EXPECT_FALSE(DecodeMetadataFilter("k=%zz").ok());
  EXPECT_FALSE(ParseTarget("/x?a=%g1").ok());
}

TEST(QueryTest, Rfc3339Times) {
  EXPECT_EQ(*ParseRfc3339Millis("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(*ParseRfc3339Millis("2026-01-01T00:00:00.123Z"), 1767225600123);
  EXPECT_EQ(*ParseRfc3339Millis("2026-01-01T01:00:00+01:00"), 1767225600000);
  EXPECT_FALSE(ParseRfc3339Millis("2026-01-01").ok());
  EXPECT_FALSE(ParseRfc3339Millis("2026-01-01T00:00:00").ok());
  EXPECT_FALSE(ParseRfc3339Millis("yesterday at noon").ok());
}

TEST(QueryTest, PathSegments) {
  EXPECT_EQ(PathSegments("/sandboxes/abc/timeout"),
            (std::vector<std::string>{"sandboxes", "abc", "timeout"}));
  EXPECT_TRUE(PathSegments("/").empty());
}

TEST(RoutingTest, HeadersWinAndHostNamesRoute) {
  auto by_header = FindDataPlane("abc123", "49999", "127.0.0.1:3000");
  ASSERT_TRUE(by_header);
  EXPECT_EQ(by_header->sandbox_id, "abc123");
  EXPECT_EQ(by_header->port, kCodeInterpreterPort);
  EXPECT_EQ(FindDataPlane("abc", "", "")->port, kEnvdPort);
  EXPECT_EQ(FindDataPlane("abc", "http", "")->port, 0);

  auto by_host = FindDataPlane("", "", "49983-i1a2b3.kiln.local:3000");
  ASSERT_TRUE(by_host);
  EXPECT_EQ(by_host->sandbox_id, "i1a2b3");
  EXPECT_EQ(by_host->port, 49983);
  EXPECT_FALSE(FindDataPlane("", "", "127.0.0.1:3000"));
  EXPECT_FALSE(FindDataPlane("", "", "localhost:3000"));
  EXPECT_FALSE(FindDataPlane("", "", "api-server.example.com"));
  EXPECT_FALSE(FindDataPlane("", "", "49983-x.localhost") == std::nullopt);
  EXPECT_FALSE(FindDataPlane("", "", "99999-abc.example.com"));
  EXPECT_FALSE(FindDataPlane("", "", "49983-ABC!.example.com"));
}

TEST(RoutingTest, NotFoundBodyIsE2bs) {
  EXPECT_EQ(SandboxNotFoundBody("abc"),
            R"({"code":502,"message":"The sandbox was not found","sandboxId":"abc"})");
}

}  // namespace
}  // namespace kiln::server
