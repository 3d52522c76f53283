// The data-plane proxy's framing, byte by byte: whatever way a chunked body is cut into reads, exactly one
// end marker goes on, so the kept envd connection and the kept client connection each carry the next
// exchange intact.
#include <chrono>
#include <thread>

#include "server_test_util.h"

namespace kiln::server {
namespace {

// Reads one whole response (head, then a Content-Length or chunked body) from a raw connection.
// `buffered`: bytes received before and not yet read; what came after the response is left there.
std::string ReadResponse(int fd, std::string* buffered) {
  std::string got = std::move(*buffered);
  buffered->clear();
  auto receive_more = [&] {
    std::string more = Receive(fd, 1);
    got += more;
    return !more.empty();
  };
  size_t head_end;
  while ((head_end = got.find("\r\n\r\n")) == std::string::npos) {
    if (!receive_more()) return got;
  }
  head_end += 4;
  std::string head = ToLower(got.substr(0, head_end));
  size_t end;
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    while ((end = got.find("\r\n0\r\n\r\n", head_end - 2)) == std::string::npos) {
      if (!receive_more()) return got;
    }
    end += 7;
  } else {
    size_t at = head.find("content-length: ");
    end = head_end + (at == std::string::npos ? 0 : std::stoul(head.substr(at + 16)));
    while (got.size() < end) {
      if (!receive_more()) return got;
    }
  }
  *buffered = got.substr(end);
  return got.substr(0, end);
}

std::string DataPlaneHead(const Json& sandbox, const std::string& request_line) {
  return request_line +
         " HTTP/1.1\r\nHost: localhost\r\nE2b-Sandbox-Id: " + sandbox["sandboxID"].get<std::string>() +
         "\r\nE2b-Sandbox-Port: 49983\r\nX-Access-Token: " + sandbox["envdAccessToken"].get<std::string>() +
         "\r\n";
}

// The next response on a kept client connection starts with its status line, with nothing stray before it.
void ExpectCleanNextExchange(int fd, const Json& sandbox, std::string* buffered) {
  ASSERT_TRUE(SendAll(fd, DataPlaneHead(sandbox, "GET /health") + "\r\n"));
  std::string health = ReadResponse(fd, buffered);
  EXPECT_EQ(health.substr(0, 10), "HTTP/1.1 2") << health;
}

// A client that sends the last chunk in a write of its own (Node's fetch does, for a multipart upload):
// before the fix, the proxy relayed it as an empty chunk and then the end marker, and envd read the stray
// marker as the start of the next request on the kept connection ("400 malformed start line").
TEST_F(ServerTest, AChunkedUploadWhoseEndComesLateLeavesTheConnectionsClean) {
  Json sandbox = Create(alice_);
  int fd = RawConnect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, DataPlaneHead(sandbox, "POST /files?path=/tmp/late.txt") +
                              "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "6\r\nhello\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the proxy relays the chunk on its own
  ASSERT_TRUE(SendAll(fd, "0\r\n\r\n"));
  std::string buffered;
  std::string upload = ReadResponse(fd, &buffered);
  EXPECT_EQ(upload.substr(0, 12), "HTTP/1.1 200") << upload;
  ExpectCleanNextExchange(fd, sandbox, &buffered);
  close(fd);
  // Each of these goes out on the envd connection the upload left in the pool, or on one it made.
  for (int i = 0; i < 3; ++i) {
    http::Response read = Envd("GET", "/files?path=/tmp/late.txt", sandbox);
    EXPECT_EQ(read.status, 200) << read.body;
    EXPECT_EQ(read.body, "hello\n");
  }
}

// A streamed response whose end marker envd sends on its own (a Connect server stream ending) reaches the
// client with one end marker, and the client's kept connection carries its next request.
TEST_F(ServerTest, AStreamedResponseEndsWithOneEndMarker) {
  Json sandbox = Create(alice_);
  std::string message = R"({"process":{"cmd":"/bin/echo","args":["hi"]}})";
  std::string envelope(5, '\0');
  envelope[4] = static_cast<char>(message.size());
  envelope += message;
  int fd = RawConnect(server_->port());
  ASSERT_GE(fd, 0);
  std::string buffered;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(SendAll(fd, DataPlaneHead(sandbox, "POST /process.Process/Start") +
                                "Content-Type: application/connect+json\r\nContent-Length: " +
                                std::to_string(envelope.size()) + "\r\n\r\n" + envelope));
    std::string stream = ReadResponse(fd, &buffered);
    EXPECT_EQ(stream.substr(0, 12), "HTTP/1.1 200") << stream;
    EXPECT_NE(stream.find("aGkK"), std::string::npos) << stream;  // "hi\n" in base64
    ExpectCleanNextExchange(fd, sandbox, &buffered);
  }
  close(fd);
}

}  // namespace
// The code interpreter's port (e2b-protocol.md 5): the SDKs send no token to /contexts*, so those answer
// without one; /execute and everything else there still need it, however the path is dressed up.
TEST_F(ServerTest, CodeContextsNeedNoTokenOnTheCodeInterpretersPort) {
  Json sandbox = Create(alice_);
  auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    http::Headers h;
    h.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
    h.Set("E2b-Sandbox-Port", "49999");
    if (!body.empty()) h.Set("Content-Type", "application/json");
    auto r = Client().Do(method, target, h, body, 60'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::Response{-1, {}, ""};
  };
  http::Response made = call("POST", "/contexts", R"({"language":"python"})");
  ASSERT_EQ(made.status, 200) << made.body;
  const std::string id = Json::parse(made.body)["id"].get<std::string>();
  http::Response listed = call("GET", "/contexts", "");
  EXPECT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find(id), std::string::npos) << listed.body;
  EXPECT_EQ(call("POST", "/contexts/" + id + "/restart", "").status / 100, 2);

  const std::string code = R"js({"code":"print('ran without a token')"})js";
  for (const std::string target : {"/execute", "/contexts/../execute", "/contexts/%2e%2e/execute",
                                   "/files?path=/etc/hostname", "/contextsx"}) {
    http::Response refused = call("POST", target, code);
    EXPECT_NE(refused.status, 200) << target;
    EXPECT_EQ(refused.body.find("ran without a token"), std::string::npos) << target << ": " << refused.body;
  }
  EXPECT_EQ(call("POST", "/execute", code).status, 401);
  EXPECT_EQ(call("DELETE", "/contexts/" + id, "").status / 100, 2);
  EXPECT_EQ(call("GET", "/contexts", "").body.find(id), std::string::npos);
}

}  // namespace kiln::server
