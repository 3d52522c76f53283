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

// Bodies of a known length of 256 KiB or more go by splice (splice_relay.h). The part of the body that came
// in with the header, and a request pipelined right behind the body, must each land where they belong.
TEST_F(ServerTest, ASplicedUploadWithARequestBehindItKeepsBothIntact) {
  Json sandbox = Create(alice_);
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 2);
  int fd = RawConnect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(
      fd, DataPlaneHead(sandbox, "POST /files?path=/tmp/spliced.bin") +
              "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(data.size()) +
              "\r\n\r\n" + data + DataPlaneHead(sandbox, "GET /files?path=/tmp/spliced.bin") + "\r\n"));
  std::string buffered;
  std::string uploaded = ReadResponse(fd, &buffered);
  EXPECT_EQ(uploaded.substr(0, 12), "HTTP/1.1 200") << uploaded.substr(0, 300);
  std::string downloaded = ReadResponse(fd, &buffered);
  ASSERT_EQ(downloaded.substr(0, 12), "HTTP/1.1 200") << downloaded.substr(0, 300);
  std::string body = downloaded.substr(downloaded.find("\r\n\r\n") + 4);
  EXPECT_EQ(body.size(), data.size());
  EXPECT_TRUE(body == data);
  ExpectCleanNextExchange(fd, sandbox, &buffered);
  close(fd);
}

// A client that stops halfway through a long upload, and one that stops reading a long download, leave the
// sandbox's envd and the server answering.
TEST_F(ServerTest, ClientsThatStopMidSpliceLeaveTheServerAnswering) {
  Json sandbox = Create(alice_);
  ASSERT_EQ(Run(sandbox, "head -c 67108864 /dev/zero > /tmp/zeros && echo made"), "made\n");
  int up = RawConnect(server_->port());
  ASSERT_GE(up, 0);
  ASSERT_TRUE(SendAll(up, DataPlaneHead(sandbox, "POST /files?path=/tmp/half.bin") +
                              "Content-Type: application/octet-stream\r\nContent-Length: 8388608\r\n\r\n" +
                              std::string(1 << 20, 'h')));
  int down = RawConnect(server_->port());
  ASSERT_GE(down, 0);
  ASSERT_TRUE(SendAll(down, DataPlaneHead(sandbox, "GET /files?path=/tmp/zeros") + "\r\n"));
  EXPECT_EQ(Receive(down, 1 << 20).substr(0, 12), "HTTP/1.1 200");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  close(up);
  close(down);
  for (int i = 0; i < 3; ++i) {
    http::Response read = Envd("GET", "/files?path=/etc/hostname", sandbox);
    EXPECT_EQ(read.status, 200) << read.body;
  }
  EXPECT_EQ(Run(sandbox, "echo alive"), "alive\n");
}

// A long download cut by the sandbox's end: the client sees the connection end before the promised length,
// never a response that looks complete, and never a hang.
TEST_F(ServerTest, ASplicedDownloadCutByAKillEndsShort) {
  Json sandbox = Create(alice_);
  ASSERT_EQ(Run(sandbox, "head -c 268435456 /dev/zero > /tmp/zeros && echo made"), "made\n");
  int fd = RawConnect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, DataPlaneHead(sandbox, "GET /files?path=/tmp/zeros") + "\r\n"));
  std::string head = Receive(fd, 1 << 20);
  ASSERT_EQ(head.substr(0, 12), "HTTP/1.1 200") << head.substr(0, 300);
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + sandbox["sandboxID"].get<std::string>(), alice_).status, 204);
  auto started = std::chrono::steady_clock::now();
  size_t total = head.size() + Receive(fd, size_t(1) << 30).size();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_LT(total, size_t(268435456)) << "the whole file came through a killed sandbox";
  close(fd);
  EXPECT_EQ(Envd("GET", "/health", sandbox).status, 502);
}

}  // namespace kiln::server
