// Black-box tests of gzip on REST /files (Content-Encoding on uploads, Accept-Encoding on downloads),
// with the system's gzip(1) making and checking the compressed bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "envd_test_util.h"
#include "kiln/protocol/http_client.h"

namespace kiln::envd {
namespace {

using Json = nlohmann::json;

// Pipes `data` through `command` (gzip -c, gzip -dc) via temp files; returns its stdout.
std::string Filter(const std::string& command, const std::string& data) {
  char in_name[] = "/tmp/kiln-gzip-test-XXXXXX";
  int fd = ::mkstemp(in_name);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
  std::string out;
  if (FILE* p = ::popen((command + " < " + in_name).c_str(), "r")) {
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  ::unlink(in_name);
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class EnvdGzipTest : public ::testing::Test {
 protected:
  EnvdGzipTest() : envd_({"--max-gzip-upload-kib", "1024"}) {}

  Result<http::Response> Upload(const std::string& target, const std::string& body, const std::string& type,
                                const std::string& encoding = "gzip") {
    auto http = http::Client::Unix(envd_.socket());
    http::Headers h;
    h.Set("Content-Type", type);
    if (!encoding.empty()) h.Set("Content-Encoding", encoding);
    return http.Do("POST", target, h, body, 30'000);
  }
  Result<http::Response> Download(const std::string& path, const std::string& accept) {
    auto http = http::Client::Unix(envd_.socket());
    http::Headers h;
    if (!accept.empty()) h.Set("Accept-Encoding", accept);
    return http.Do("GET", "/files?path=" + path, h, {}, 30'000);
  }

  testing::EnvdProcess envd_;
};

TEST_F(EnvdGzipTest, GzipUploadsAreInflatedOctetStreamAndMultipart) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  auto r = Upload("/files?path=/home/user/plain.txt", Filter("gzip -c", text), "application/octet-stream");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Slurp(envd_.root() + "/home/user/plain.txt"), text);

  std::string multipart = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.txt\"\r\n\r\n" +
                          text + "\r\n--b--\r\n";
  r = Upload("/files?path=/home/user/m.txt", Filter("gzip -c", multipart), "multipart/form-data; boundary=b");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Slurp(envd_.root() + "/home/user/m.txt"), text);

  // Two concatenated members (`cat a.gz b.gz`) are one body, as gzip -d sees it.
  r = Upload("/files?path=/home/user/two.txt", Filter("gzip -c", "first\n") + Filter("gzip -c", "second\n"),
             "application/octet-stream");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Slurp(envd_.root() + "/home/user/two.txt"), "first\nsecond\n");
}

TEST_F(EnvdGzipTest, GzipBombCorruptAndTruncatedBodiesAreRefused) {
  std::string bomb = Filter("gzip -c", std::string(8 << 20, '\0'));  // 8 MiB of zeros in ~8 KB
  ASSERT_LT(bomb.size(), 64u * 1024);
  auto r = Upload("/files?path=/home/user/bomb", bomb, "application/octet-stream");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("more than 1048576 bytes"), std::string::npos) << r->body;

  r = Upload("/files?path=/home/user/corrupt", "definitely not gzip", "application/octet-stream");
  EXPECT_EQ(r->status, 400) << r->body;
  std::string whole = Filter("gzip -c", std::string(100000, 'x'));
  r = Upload("/files?path=/home/user/cut", whole.substr(0, whole.size() - 10), "application/octet-stream");
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("truncated"), std::string::npos) << r->body;
  r = Upload("/files?path=/home/user/br", "x", "application/octet-stream", "br");
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(EnvdGzipTest, DownloadsAreGzippedOnlyWhenAccepted) {
  std::string text;
  for (int i = 0; i < 50000; ++i) text += std::to_string(i * 7) + ",";
  std::ofstream(envd_.root() + "/home/user/data.csv") << text;
  auto gz = Download("/home/user/data.csv", "br, gzip;q=0.8");
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  ASSERT_EQ(gz->status, 200);
  EXPECT_EQ(gz->headers.Get("Content-Encoding").value_or(""), "gzip");
  EXPECT_LT(gz->body.size(), text.size());
  EXPECT_EQ(Filter("gzip -dc", gz->body), text);
  for (const std::string& accept : {std::string(), std::string("gzip;q=0"), std::string("identity")}) {
    auto plain = Download("/home/user/data.csv", accept);
    ASSERT_TRUE(plain.ok());
    EXPECT_FALSE(plain->headers.Get("Content-Encoding").has_value()) << accept;
    EXPECT_EQ(plain->body, text) << accept;
  }
  std::ofstream(envd_.root() + "/home/user/empty");
  auto empty = Download("/home/user/empty", "gzip");
  EXPECT_EQ(Filter("gzip -dc", empty->body), "");
  EXPECT_EQ(Download("/home/user/none", "gzip")->status, 404);
}

}  // namespace
}  // namespace kiln::envd
