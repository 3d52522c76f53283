#include "kiln/protocol/http_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/protocol/http_client.h"
#include "server_test_util.h"

namespace kiln::http {
namespace {

using namespace std::chrono_literals;
using namespace testutil;

thread_local int requests_on_this_connection = 0;

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    path_ = SocketPath();
    auto fd = ListenUnix(path_);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    server_ = std::make_unique<Server>([this](Request& r, ResponseWriter& w) { Handle(r, w); }, options);
    ASSERT_TRUE(server_->Start(std::move(fd).value()).ok());
  }
  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    if (server_) server_->Shutdown();
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  void Handle(Request& r, ResponseWriter& w);
  void Stream(Request& r, ResponseWriter& w);
  void StreamForever(ResponseWriter& w);
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return pred() || released_; });
  }
  void Signal(const std::function<void()>& change) {
    {
      std::lock_guard lock(mu_);
      change();
    }
    cv_.notify_all();
  }

  std::string path_;
  std::unique_ptr<Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  int acked_ = 0;
  bool released_ = false;
  bool forever_started_ = false;
  bool forever_ended_ = false;
};

void ServerTest::Handle(Request& r, ResponseWriter& w) {
  ++requests_on_this_connection;
  if (r.path == "/echo" || r.path == "/head") {
    Response resp;
    resp.headers.Add("X-Method", r.method);
    resp.headers.Add("X-Count", std::to_string(requests_on_this_connection));
    if (auto q = r.Query("q")) resp.headers.Add("X-Q", std::string(*q));
    resp.body = r.path == "/head" ? "hello" : r.body;
    (void)w.Send(resp);
  } else if (r.path == "/stream") {
    Stream(r, w);
  } else if (r.path == "/forever") {
    StreamForever(w);
  } else if (r.path == "/throw") {
    throw std::runtime_error("boom");
  } else if (r.path == "/silent") {
    return;
  } else if (r.path == "/abort") {
    (void)w.StartStream(200, {});
    (void)w.Write("partial");
    w.Abort();
  } else if (r.path == "/upgrade") {
    // Switches to an upper-casing echo of the raw connection, starting with what arrived early.
    int fd = -1;
    std::string pending;
    Headers h;
    h.Add("X-Tunnel", "yes");
    if (!w.Upgrade("shout", h, &fd, &pending).ok()) return;
    for (std::string data = pending;; data.clear()) {
      for (char& c : data) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!data.empty() && ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) < 0) return;
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.assign(buf, static_cast<size_t>(n));
      for (char& c : data) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) < 0) return;
    }
  } else if (r.path == "/nocontent") {
    Response resp;
    resp.status = 204;
    (void)w.Send(resp);
  } else if (r.path == "/slow") {
    WaitFor([] { return false; });
    (void)w.Send(Response{});
  } else {
    Response resp;
    resp.status = 404;
    (void)w.Send(resp);
  }
}

void ServerTest::Stream(Request& r, ResponseWriter& w) {
  int n = std::stoi(std::string(r.Query("n").value_or("3")));
  bool sync = r.Query("sync").has_value();
  Headers h;
  h.Add("Content-Type", "text/plain");
  if (!w.StartStream(200, h).ok()) return;
  for (int i = 0; i < n; ++i) {
    if (!w.Write("chunk-" + std::to_string(i) + "\n").ok()) return;
    // Waiting for the client to see this chunk proves it was flushed, not buffered until Finish.
    if (sync && !WaitFor([&] { return acked_ > i; })) return;
  }
  if (auto tail = r.Query("tail")) {
    (void)w.WriteAndFinish(*tail);
    return;
  }
  (void)w.Finish();
}

void ServerTest::StreamForever(ResponseWriter& w) {
  (void)w.StartStream(200, {});
  Signal([&] { forever_started_ = true; });
  const int64_t give_up = MonotonicMillis() + 10000;
  while (MonotonicMillis() < give_up && w.Write("x").ok() && !w.PeerClosed())
    std::this_thread::sleep_for(2ms);
  Signal([&] { forever_ended_ = true; });
}

TEST_F(ServerTest, EchoOverClient) {
  StartServer();
  Client c = Client::Unix(path_);
  auto r = c.Do("POST", "/echo?q=a+b%21", {}, "payload", 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "payload");
  EXPECT_EQ(r->headers.Get("x-q"), "a b!");
  EXPECT_EQ(r->headers.Get("x-method"), "POST");
}

TEST_F(ServerTest, ClientReusesConnection) {
  StartServer();
  Client c = Client::Unix(path_);
  for (int i = 1; i <= 3; ++i) {
    auto r = c.Do("GET", "/echo", {}, {}, 5000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->headers.Get("x-count"), std::to_string(i));  // same connection thread each time
  }
}

// Upgrade answers 101 with the protocol and the handler's headers, hands over the bytes that arrived with
// the request head, and the connection is the handler's raw stream until it returns (then closed).
TEST_F(ServerTest, UpgradeHandsTheConnectionOver) {
  StartServer();
  UniqueFd fd = RawConnect(path_);
  SendRaw(fd.get(), "GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\nearly");
  std::string buf;
  ASSERT_TRUE(ReadUntil(fd.get(), &buf, [&] { return buf.find("EARLY") != std::string::npos; }));
  EXPECT_EQ(buf.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << buf;
  EXPECT_NE(buf.find("Upgrade: shout\r\n"), std::string::npos) << buf;
  EXPECT_NE(buf.find("Connection: Upgrade\r\n"), std::string::npos) << buf;
  EXPECT_NE(buf.find("X-Tunnel: yes\r\n\r\nEARLY"), std::string::npos) << buf;
  buf.clear();
  SendRaw(fd.get(), "later");
  ASSERT_TRUE(ReadUntil(fd.get(), &buf, [&] { return buf == "LATER"; })) << buf;
  ::shutdown(fd.get(), SHUT_WR);
  bool eof = false;
  ASSERT_TRUE(ReadUntil(
      fd.get(), &buf, [] { return false; }, &eof));
  EXPECT_TRUE(eof);
}

TEST_F(ServerTest, ChunkedRequestBodyAndPipelining) {
  StartServer();
  UniqueFd fd = RawConnect(path_);
  SendRaw(fd.get(),
          "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
          "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nfg");
  std::string buf;
  EXPECT_EQ(ReadResponse(fd.get(), &buf).body, "abcde");
  EXPECT_EQ(ReadResponse(fd.get(), &buf).body, "fg");
}

TEST_F(ServerTest, AnswersExpectContinueBeforeBody) {
  StartServer();
  UniqueFd fd = RawConnect(path_);
  SendRaw(fd.get(), "PUT /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string buf;
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_TRUE(ReadUntil(fd.get(), &buf, [&] { return buf.size() >= interim.size(); }));
  EXPECT_EQ(buf, interim);
  buf.clear();
  SendRaw(fd.get(), "hello");
  EXPECT_EQ(ReadResponse(fd.get(), &buf).body, "hello");
}

TEST_F(ServerTest, StreamedChunksAreFlushedOneByOne) {
  StartServer();
  Client c = Client::Unix(path_);
  int status = 0;
  std::string got;
  Status s = c.Stream(
      "GET", "/stream?n=3&sync", {}, {}, [&](const Response& r) { status = r.status; },
      [&](std::string_view d) {
        got.append(d);
        Signal([&] { acked_ = static_cast<int>(std::count(got.begin(), got.end(), '\n')); });
        return true;
      },
      5000);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(got, "chunk-0\nchunk-1\nchunk-2\n");
  // The connection is still usable after a streamed response.
  EXPECT_TRUE(c.Do("GET", "/echo", {}, {}, 5000).ok());
}

TEST_F(ServerTest, WriteAndFinishSendsTheLastDataAndTheEndTogether) {
  StartServer();
  UniqueFd fd = RawConnect(path_);
  SendRaw(fd.get(), "GET /stream?n=1&tail=end HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string buf;
  ASSERT_TRUE(ReadUntil(fd.get(), &buf, [&] { return buf.find("\r\n0\r\n\r\n") != std::string::npos; }));
  EXPECT_NE(buf.find("\r\n\r\n8\r\nchunk-0\n\r\n3\r\nend\r\n0\r\n\r\n"), std::string::npos) << buf;
  // The stream ended cleanly: the connection serves the next request.
  buf.clear();
  SendRaw(fd.get(), "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.get(), &buf).status, 200);
}

TEST_F(ServerTest, HandlerExceptionAndSilenceBecome500) {
  StartServer();
  Client c = Client::Unix(path_);
  for (const char* path : {"/throw", "/silent"}) {
    auto r = c.Do("GET", path, {}, {}, 5000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 500) << path;
  }
  auto r = c.Do("GET", "/echo", {}, {}, 5000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, ParseErrorsAnsweredThenClosed) {
  ServerOptions options;
  options.limits.max_header_bytes = 256;
  options.limits.max_body_bytes = 16;
  StartServer(options);
  struct Case {
    std::string raw;
    int status;
    std::string says;
  };
  for (const Case& k : std::vector<Case>{
           {"GARBAGE\r\n\r\n", 400, "start line"},
           {"GET / HTTP/1.1\r\nX: " + std::string(400, 'a') + "\r\n\r\n", 431, "header"},
           {"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413, "limit"},
           {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n", 413,
            "limit"},
           {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "gzip"},
       }) {
    UniqueFd fd = RawConnect(path_);
    SendRaw(fd.get(), k.raw);
    std::string buf;
    Response r = ReadResponse(fd.get(), &buf);
    EXPECT_EQ(r.status, k.status) << k.raw;
    EXPECT_NE(r.body.find(k.says), std::string::npos) << r.body;
    EXPECT_TRUE(PeerCloses(fd.get())) << k.raw;
  }
}

TEST_F(ServerTest, AbortIsNotMistakenForSuccess) {
  StartServer();
  Client c = Client::Unix(path_);
  std::string got;
  Status s = c.Stream(
      "GET", "/abort", {}, {}, [](const Response&) {},
      [&](std::string_view d) {
        got.append(d);
        return true;
      },
      5000);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(got, "partial");
}

TEST_F(ServerTest, HandlerSeesClientGoAway) {
  StartServer();
  Client c = Client::Unix(path_);
  Status s = c.Stream(
      "GET", "/forever", {}, {}, [](const Response&) {}, [](std::string_view) { return false; }, 5000);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(WaitFor([&] { return forever_ended_; }));
  std::lock_guard lock(mu_);
  EXPECT_TRUE(forever_ended_);
}

TEST_F(ServerTest, ShutdownDoesNotHangOnStreamingHandler) {
  StartServer();
  std::thread client([&] {
    Client c = Client::Unix(path_);
    (void)c.Stream(
        "GET", "/forever", {}, {}, [](const Response&) {}, [](std::string_view) { return true; }, 5000);
  });
  ASSERT_TRUE(WaitFor([&] { return forever_started_; }));
  const int64_t start = MonotonicMillis();
  server_->Shutdown();
  EXPECT_LT(MonotonicMillis() - start, 2000);
  {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(forever_ended_);
  }
  client.join();
}

TEST_F(ServerTest, MaxConnectionsAnswers503) {
  ServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  UniqueFd first = RawConnect(path_);
  SendRaw(first.get(), "GET /echo HTTP/1.1\r\n\r\n");
  std::string buf;
  EXPECT_EQ(ReadResponse(first.get(), &buf).status, 200);  // the first connection is now registered
  Client c = Client::Unix(path_);
  auto r = c.Do("GET", "/echo", {}, {}, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 503);
}

TEST_F(ServerTest, IdleConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout_ms = 100;
  StartServer(options);
  UniqueFd fd = RawConnect(path_);
  const int64_t start = MonotonicMillis();
  EXPECT_TRUE(PeerCloses(fd.get()));
  EXPECT_LT(MonotonicMillis() - start, 3000);
  // A client holding a connection the server closed reconnects transparently.
  Client c = Client::Unix(path_);
  ASSERT_TRUE(c.Do("GET", "/echo", {}, {}, 5000).ok());
  std::this_thread::sleep_for(250ms);
  auto r = c.Do("GET", "/echo", {}, {}, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->headers.Get("x-count"), "1");
}

TEST_F(ServerTest, HeadAnd204HaveNoBody) {
  StartServer();
  Client c = Client::Unix(path_);
  auto head = c.Do("HEAD", "/head", {}, {}, 5000);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->headers.Get("content-length"), "5");
  EXPECT_EQ(head->body, "");
  auto none = c.Do("GET", "/nocontent", {}, {}, 5000);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 204);
  auto get = c.Do("GET", "/head", {}, {}, 5000);  // the connection framing survived both
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->body, "hello");
  EXPECT_EQ(get->headers.Get("x-count"), "3");
}

TEST_F(ServerTest, Http10ClosesUnlessKeepAlive) {
  StartServer();
  {
    UniqueFd fd = RawConnect(path_);
    SendRaw(fd.get(), "GET /echo HTTP/1.0\r\n\r\n");
    std::string buf;
    EXPECT_EQ(ReadResponse(fd.get(), &buf).status, 200);
    EXPECT_TRUE(PeerCloses(fd.get()));
  }
  {
    UniqueFd fd = RawConnect(path_);
    SendRaw(fd.get(), "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    std::string buf;
    Response r = ReadResponse(fd.get(), &buf);
    EXPECT_EQ(r.headers.Get("connection"), "keep-alive");
    SendRaw(fd.get(), "GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // An HTTP/1.0 stream cannot be chunked: raw bytes, ended by close.
    bool eof = false;
    ASSERT_TRUE(ReadUntil(
        fd.get(), &buf, [&] { return eof; }, &eof));
    EXPECT_EQ(buf.substr(buf.find("\r\n\r\n") + 4), "chunk-0\nchunk-1\n");
  }
}

TEST_F(ServerTest, ClientTimesOut) {
  StartServer();
  Client c = Client::Unix(path_);
  const int64_t start = MonotonicMillis();
  auto r = c.Do("GET", "/slow", {}, {}, 100);
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_LT(MonotonicMillis() - start, 2000);
}

// A cancelled call closes its connection (the handler sees the client go away) and says it was cancelled;
// the same client works afterwards.
TEST_F(ServerTest, CancelledStreamClosesTheConnection) {
  StartServer();
  Client c = Client::Unix(path_);
  std::atomic<bool> cancel{false};
  c.set_cancelled([&] { return cancel.load(); });
  std::thread stopper([&] {
    (void)WaitFor([&] { return forever_started_; });
    cancel = true;
  });
  Status s = c.Stream(
      "GET", "/forever", {}, {}, [](const Response&) {}, [](std::string_view) { return true; }, 60'000);
  stopper.join();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("cancelled"), std::string::npos) << s.ToString();
  EXPECT_FALSE(c.connected());
  EXPECT_TRUE(WaitFor([&] { return forever_ended_; }));
  // A server that says nothing (a cell that prints nothing) is given up too: /slow answers only after 5 s.
  cancel = false;
  std::thread later([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  auto silent = c.Do("GET", "/slow", {}, {}, 60'000);
  later.join();
  EXPECT_EQ(silent.status().code(), Code::kFailedPrecondition) << silent.status().ToString();
  c.set_cancelled({});
  auto r = c.Do("POST", "/echo", {}, "again");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "again");
}

TEST_F(ServerTest, ConcurrentClients) {
  StartServer();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Client c = Client::Unix(path_);
      for (int i = 0; i < 10; ++i) {
        std::string body = std::to_string(t) + "/" + std::to_string(i);
        auto r = c.Do("POST", "/echo", {}, body, 5000);
        if (r.ok() && r->body == body) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
}

TEST(ServerTcpTest, TcpRoundTripAndStream) {
  int port = 0;
  auto fd = ListenTcp("127.0.0.1", 0, &port);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  ASSERT_GT(port, 0);
  Server server([](Request& r, ResponseWriter& w) {
    if (r.path == "/s") {
      (void)w.StartStream(200, {});
      for (int i = 0; i < 100; ++i) (void)w.Write(std::string(1000, 'a' + i % 26));
      (void)w.Finish();
      return;
    }
    Response resp;
    resp.body = r.body + "!";
    (void)w.Send(resp);
  });
  ASSERT_TRUE(server.Start(std::move(fd).value()).ok());
  EXPECT_FALSE(server.Start(UniqueFd()).ok());
  Client c = Client::Tcp("127.0.0.1", port);
  auto r = c.Do("POST", "/", {}, std::string(300000, 'z'), 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body.size(), 300001u);
  size_t total = 0;
  Status s = c.Stream(
      "GET", "/s", {}, {}, [](const Response&) {},
      [&](std::string_view d) {
        total += d.size();
        return true;
      });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(total, 100000u);
  server.Shutdown();
  server.Shutdown();  // idempotent
}

TEST(ServerServeTest, ServeOnCallingThreadUntilShutdown) {
  std::string path = SocketPath();
  auto fd = ListenUnix(path);
  ASSERT_TRUE(fd.ok());
  Server server([](Request&, ResponseWriter& w) { (void)w.Send(Response{}); });
  Status served;
  std::thread t([&] { served = server.Serve(std::move(fd).value()); });
  Client c = Client::Unix(path);
  auto r = c.Do("GET", "/", {}, {}, 5000);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  server.Shutdown();
  t.join();
  EXPECT_TRUE(served.ok()) << served.ToString();
  ::unlink(path.c_str());
}

TEST(ClientTest, ConnectFailureNamesSocket) {
  Client c = Client::Unix("/tmp/kiln-proto-does-not-exist.sock");
  auto r = c.Do("GET", "/", {}, {}, 1000);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("kiln-proto-does-not-exist"), std::string::npos)
      << r.status().message();
}

// A server that closes a kept-alive connection right after reading the next request, without answering.
TEST(ClientTest, RetriesOnceWhenReusedConnectionWasClosed) {
  std::string path = SocketPath();
  auto lfd = ListenUnix(path);
  ASSERT_TRUE(lfd.ok());
  std::thread fake([&] {
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    UniqueFd a(::accept(lfd->get(), nullptr, nullptr));
    std::string buf;
    ReadUntil(a.get(), &buf, [&] { return buf.find("\r\n\r\n") != std::string::npos; });
    SendRaw(a.get(), ok);
    buf.clear();
    ReadUntil(a.get(), &buf, [&] { return buf.find("\r\n\r\n") != std::string::npos; });
    a.reset();  // dropped mid-request, as a server timing out an idle connection would race to do
    UniqueFd b(::accept(lfd->get(), nullptr, nullptr));
    buf.clear();
    ReadUntil(b.get(), &buf, [&] { return buf.find("\r\n\r\n") != std::string::npos; });
    SendRaw(b.get(), ok);
  });
  Client c = Client::Unix(path);
  auto first = c.Do("GET", "/", {}, {}, 5000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = c.Do("GET", "/", {}, {}, 5000);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->body, "ok");
  fake.join();
  ::unlink(path.c_str());
}

TEST(ClientTest, SkipsInterimResponseAndReadsUntilClose) {
  std::string path = SocketPath();
  auto lfd = ListenUnix(path);
  ASSERT_TRUE(lfd.ok());
  std::thread fake([&] {
    UniqueFd a(::accept(lfd->get(), nullptr, nullptr));
    std::string buf;
    ReadUntil(a.get(), &buf, [&] { return buf.find("\r\n\r\n") != std::string::npos; });
    SendRaw(a.get(), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: y\r\n\r\nall of ");
    SendRaw(a.get(), "it");
  });
  Client c = Client::Unix(path);
  auto r = c.Do("GET", "/", {}, {}, 5000);
  fake.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("x"), "y");
  EXPECT_EQ(r->body, "all of it");
  ::unlink(path.c_str());
}

TEST(ClientTest, TruncatedResponseIsAnError) {
  std::string path = SocketPath();
  auto lfd = ListenUnix(path);
  ASSERT_TRUE(lfd.ok());
  std::thread fake([&] {
    UniqueFd a(::accept(lfd->get(), nullptr, nullptr));
    std::string buf;
    ReadUntil(a.get(), &buf, [&] { return buf.find("\r\n\r\n") != std::string::npos; });
    SendRaw(a.get(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  });
  Client c = Client::Unix(path);
  auto r = c.Do("GET", "/", {}, {}, 5000);
  fake.join();
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("before the response was complete"), std::string::npos)
      << r.status().message();
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace kiln::http
