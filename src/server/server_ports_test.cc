// The data plane for ports other than envd's: a web server started in the sandbox is reached through the
// server (E2B's getHost(port)), by routing header or host name, with keep-alive; protocol upgrades
// (WebSocket-style) pass through as a raw two-way stream; a closed port, an unknown sandbox and a killed
// sandbox are answered or cut as E2B's edge does.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "routing.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

// An HTTP server on 127.0.0.1:9000 in the sandbox that answers any request with 101 and then echoes.
constexpr char kEchoServer[] = R"py(
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9000))
s.listen(8)
while True:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        piece = c.recv(4096)
        if not piece:
            break
        data += piece
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
    rest = data.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in data else b""
    if rest:
        c.sendall(rest)
    while True:
        piece = c.recv(65536)
        if not piece:
            break
        c.sendall(piece)
    c.close()
)py";

class PortsTest : public ServerTest {
 protected:
  http::Response Port(const std::string& id, int port, const std::string& target, http::Client& client) {
    http::Headers h;
    h.Set("E2b-Sandbox-Id", id);
    h.Set("E2b-Sandbox-Port", std::to_string(port));
    auto r = client.Do("GET", target, h, "", 30'000);
    return r.ok() ? *r : http::Response{-1, {}, r.status().ToString()};
  }
};

TEST_F(PortsTest, WebServersAndUpgradesInTheSandboxAreReachable) {
  Json sandbox = Create(alice_);
  std::string id = sandbox["sandboxID"];
  Run(sandbox,
      "cd /home/user && echo hello-from-port > index.txt && "
      "(python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &) && "
      "cat > /tmp/echo.py <<'EOF'\n" +
          std::string(kEchoServer) + "\nEOF\n(python3 /tmp/echo.py >/dev/null 2>&1 &)");

  http::Client client = Client();
  http::Response page{-1, {}, ""};
  for (int i = 0; i < 300 && page.status != 200; ++i) {
    page = Port(id, 8000, "/index.txt", client);
    if (page.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.body, "hello-from-port\n");
  http::Response again = Port(id, 8000, "/index.txt", client);  // the same connection, kept alive
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, "hello-from-port\n");

  int by_host = RawConnect(server_->port());
  ASSERT_TRUE(SendAll(by_host, "GET /index.txt HTTP/1.1\r\nHost: 8000-" + id +
                                   ".kiln.test:3000\r\nConnection: close\r\n\r\n"));
  std::string answer = Receive(by_host, 1 << 20);
  close(by_host);
  EXPECT_EQ(answer.rfind("HTTP/1.0 200", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\nhello-from-port\n"), std::string::npos) << answer;

  int ws = RawConnect(server_->port());
  std::string upgraded;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(SendAll(ws, "GET /ws HTTP/1.1\r\nHost: 9000-" + id +
                                ".kiln.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"));
    upgraded = Receive(ws, 1 << 20, "\r\n\r\n");
    if (upgraded.rfind("HTTP/1.1 101", 0) == 0) break;
    close(ws);  // the echo server was not up yet: 502, connection closed
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ws = RawConnect(server_->port());
  }
  ASSERT_EQ(upgraded.rfind("HTTP/1.1 101", 0), 0u) << upgraded;
  ASSERT_TRUE(SendAll(ws, "ping-1"));
  EXPECT_EQ(Receive(ws, 6), "ping-1");
  std::string big(1 << 20, 'z');
  std::thread writer([&] { SendAll(ws, big); });
  std::string echoed = Receive(ws, big.size());
  writer.join();
  EXPECT_EQ(echoed.size(), big.size());

  http::Response closed = Port(id, 8001, "/", client);
  EXPECT_EQ(closed.status, 502);
  EXPECT_EQ(Body(closed)["message"], "The sandbox is running but port is not open") << closed.body;
  EXPECT_EQ(Body(closed)["port"], 8001);
  http::Client fresh = Client();
  http::Response unknown = Port("nosuchsandbox", 8000, "/", fresh);
  EXPECT_EQ(unknown.status, 502);
  EXPECT_EQ(Body(unknown)["message"], "The sandbox was not found");

  // Killing the sandbox ends the open tunnel.
  ASSERT_EQ(Call("DELETE", "/sandboxes/" + id, alice_).status, 204);
  char c;
  ssize_t n = recv(ws, &c, 1, 0);
  EXPECT_LE(n, 0);
  EXPECT_FALSE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "the tunnel outlived its sandbox";
  close(ws);
}

// network.allowPublicTraffic false: create and connect answer a traffic token, and the code interpreter and
// every forwarded port refuse a request without it (403 naming the header), while envd keeps taking its
// own access token alone. A default sandbox has no traffic token and no such check.
TEST_F(PortsTest, RestrictedPublicTrafficNeedsTheTrafficToken) {
  Json open = Create(alice_);
  EXPECT_TRUE(open["trafficAccessToken"].is_null()) << open.dump();
  http::Response bad = Call("POST", "/v2/sandboxes", alice_, R"({"network":{"allowPublicTraffic":"no"}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("network.allowPublicTraffic"), std::string::npos) << bad.body;

  Json sandbox =
      Create(alice_, R"({"templateID":"code-interpreter-v1","network":{"allowPublicTraffic":false}})");
  ASSERT_TRUE(sandbox["trafficAccessToken"].is_string()) << sandbox.dump();
  std::string id = sandbox["sandboxID"], token = sandbox["trafficAccessToken"];
  EXPECT_GE(token.size(), 32u);
  EXPECT_NE(token, sandbox["envdAccessToken"].get<std::string>());
  http::Response connected = Call("POST", "/v2/sandboxes/" + id + "/connect", alice_, R"({"timeout":300})");
  ASSERT_EQ(connected.status, 200) << connected.body;
  EXPECT_EQ(Body(connected)["trafficAccessToken"], token);

  // envd: its access token is enough, as before.
  EXPECT_NE(Run(sandbox, "echo envd-unaffected").find("envd-unaffected"), std::string::npos);
  Run(sandbox,
      "cd /home/user && echo restricted-port > index.txt && "
      "(python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &)");

  auto call = [&](int port, const std::string& method, const std::string& target, const std::string& body,
                  const std::string& traffic) {
    http::Headers h;
    h.Set("E2b-Sandbox-Id", id);
    h.Set("E2b-Sandbox-Port", std::to_string(port));
    h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    if (!body.empty()) h.Set("Content-Type", "application/json");
    if (!traffic.empty()) h.Set("E2B-Traffic-Access-Token", traffic);
    auto r = Client().Do(method, target, h, body, 60'000);
    return r.ok() ? *r : http::Response{-1, {}, r.status().ToString()};
  };
  std::string code = R"({"code":"6 * 7"})";
  http::Response refused = call(kCodeInterpreterPort, "POST", "/execute", code, "");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Body(refused)["code"], 403);
  EXPECT_NE(Body(refused)["message"].get<std::string>().find("E2B-Traffic-Access-Token"), std::string::npos)
      << refused.body;
  EXPECT_EQ(call(kCodeInterpreterPort, "POST", "/execute", code, std::string(token.size(), 'x')).status, 403);
  http::Response executed = call(kCodeInterpreterPort, "POST", "/execute", code, token);
  EXPECT_EQ(executed.status, 200) << executed.body;
  EXPECT_NE(executed.body.find("42"), std::string::npos) << executed.body;

  http::Response page{-1, {}, ""};
  for (int i = 0; i < 300 && page.status != 200; ++i) {
    page = call(8000, "GET", "/index.txt", "", token);
    if (page.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.body, "restricted-port\n");
  http::Response no_token = call(8000, "GET", "/index.txt", "", "");
  EXPECT_EQ(no_token.status, 403);
  EXPECT_NE(no_token.body.find("E2B-Traffic-Access-Token"), std::string::npos) << no_token.body;
  // The token of another restricted sandbox is not this one's.
  Json other = Create(alice_, R"({"network":{"allowPublicTraffic":false}})");
  EXPECT_EQ(call(8000, "GET", "/index.txt", "", other["trafficAccessToken"]).status, 403);
  // The default sandbox's ports stay public.
  http::Client client = Client();
  EXPECT_EQ(Port(open["sandboxID"], 8001, "/", client).status, 502);  // not open, but not refused
}

}  // namespace
}  // namespace kiln::server
