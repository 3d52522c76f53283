// The server's bounds: body caps and streamed bodies, timeouts, capacity, fixed-length responses.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "kiln/protocol/http_client.h"
#include "kiln/protocol/http_server.h"
#include "server_test_util.h"

namespace kiln::http {
namespace {

using namespace testutil;
using namespace std::chrono_literals;

// Routes: /stream reads the body through body_reader and answers its size and largest chunk; /ignore
// answers without reading; /fixed?n=N&short sends N bytes with Content-Length (one fewer with `short`);
// anything else echoes the buffered body.
void Handle(Request& r, ResponseWriter& w) {
  Response resp;
  if (r.path == "/stream" || r.path == "/ignore") {
    if (!r.body_reader) return (void)w.Send({500, {}, "no body reader"});
    size_t total = 0, largest = 0;
    std::string chunk;
    Status s;
    while (r.path == "/stream" && (s = r.body_reader->Read(&chunk)).ok() && !chunk.empty()) {
      total += chunk.size();
      largest = std::max(largest, chunk.size());
    }
    resp.status = s.ok() ? 200 : 400;
    resp.body = s.ok() ? std::to_string(total) + " " + std::to_string(largest) : s.ToString();
  } else if (r.path == "/fixed") {
    size_t n = std::stoul(std::string(r.Query("n").value_or("0")));
    if (!w.StartFixed(200, {}, n).ok()) return;
    std::string data(r.Query("short") ? n - 1 : n, 'x');
    (void)w.Write(data);
    (void)w.Finish();
    return;
  } else {
    resp.body = r.body;
  }
  (void)w.Send(resp);
}

class ServerLimitsTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options) {
    path_ = SocketPath();
    auto fd = ListenUnix(path_);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    if (!options.body_policy) {
      options.body_policy = [](const Request& r) {
        bool stream = r.path == "/stream" || r.path == "/ignore";
        return BodyPolicy{stream, stream ? uint64_t{64} << 20 : 1024};
      };
    }
    server_ = std::make_unique<Server>(Handle, options);
    ASSERT_TRUE(server_->Start(std::move(fd).value()).ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  // Sends `request` on a new connection and reads one response.
  Response RoundTrip(std::string_view request, UniqueFd* keep = nullptr) {
    UniqueFd fd = RawConnect(path_);
    SendRaw(fd.get(), request);
    std::string buf;
    Response r = ReadResponse(fd.get(), &buf);
    if (keep) *keep = std::move(fd);
    return r;
  }

  std::string path_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerLimitsTest, BareLfRequestIsAnswered400AndClosed) {
  StartServer({});
  UniqueFd fd;
  Response r = RoundTrip("GET /echo HTTP/1.1\nHost: x\n\n", &fd);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("bare LF"), std::string::npos) << r.body;
  EXPECT_TRUE(PeerCloses(fd.get()));
}

TEST_F(ServerLimitsTest, BufferedBodyPastThePolicyCapIs413) {
  StartServer({});
  EXPECT_EQ(RoundTrip("POST /echo HTTP/1.1\r\nContent-Length: 1025\r\n\r\n").status, 413);
  std::string chunked = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                        std::string(1024, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n";
  EXPECT_EQ(RoundTrip(chunked).status, 413);
  Response ok = RoundTrip("POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'c'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), 1024u);
}

TEST_F(ServerLimitsTest, StreamedBodyArrivesInBoundedPieces) {
  StartServer({});
  Client c = Client::Unix(path_);
  const std::string body(20 << 20, 'z');
  auto r = c.Do("POST", "/stream", {}, body, 30000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 200) << r->body;
  size_t space = r->body.find(' ');
  EXPECT_EQ(r->body.substr(0, space), std::to_string(body.size()));
  EXPECT_LE(std::stoul(r->body.substr(space + 1)), size_t{64 * 1024});
  // The connection is reusable after a streamed body read to its end.
  auto again = c.Do("POST", "/echo", {}, "small", 5000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->body, "small");
}

TEST_F(ServerLimitsTest, StreamedBodyPastItsCapIsResourceExhausted) {
  ServerOptions options;
  options.body_policy = [](const Request&) { return BodyPolicy{true, 1000}; };
  StartServer(options);
  std::string chunked = "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                        std::string(1000, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n";
  Response r = RoundTrip(chunked);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("resource_exhausted"), std::string::npos) << r.body;
  EXPECT_EQ(RoundTrip("POST /stream HTTP/1.1\r\nContent-Length: 1001\r\n\r\n").status, 413);
}

TEST_F(ServerLimitsTest, UnreadStreamedBodyStillGetsItsAnswer) {
  StartServer({});
  UniqueFd fd = RawConnect(path_);
  SendRaw(fd.get(), "POST /ignore HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + std::string(100000, 'q'));
  std::string buf;
  Response r = ReadResponse(fd.get(), &buf);
  EXPECT_EQ(r.status, 200);
  // The rest of the body would follow: the client is told the connection ends here.
  EXPECT_EQ(r.headers.Get("connection").value_or(""), "close");
}

TEST_F(ServerLimitsTest, BufferedBodiesShareOneBudget) {
  ServerOptions options;
  options.max_buffered_total = 1000;
  options.body_policy = [](const Request&) { return BodyPolicy{false, 800}; };
  StartServer(options);
  // A holds 600 bytes of an unfinished 700-byte body; B's 500 bytes would pass the budget.
  UniqueFd a = RawConnect(path_);
  SendRaw(a.get(), "POST /echo HTTP/1.1\r\nContent-Length: 700\r\n\r\n" + std::string(600, 'a'));
  std::this_thread::sleep_for(100ms);
  const std::string b = "POST /echo HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'b');
  EXPECT_EQ(RoundTrip(b).status, 503);
  SendRaw(a.get(), std::string(100, 'a'));
  std::string buf;
  EXPECT_EQ(ReadResponse(a.get(), &buf).status, 200);
  // A's share is given back once its handler has returned, which may be just after its answer arrived.
  int status = 0;
  for (int i = 0; i < 100 && (status = RoundTrip(b).status) == 503; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(status, 200);
}

TEST_F(ServerLimitsTest, DrippedHeadAndStalledBodyAreCut) {
  ServerOptions options;
  options.head_timeout_ms = 300;
  options.body_timeout_ms = 300;
  StartServer(options);
  // One byte every 50 ms keeps a per-read timeout happy forever; the head deadline is absolute.
  UniqueFd drip = RawConnect(path_);
  const int64_t start = MonotonicMillis();
  std::string head = "GET /echo HTTP/1.1\r\nX-Slow: ";
  for (int i = 0; i < 40 && MonotonicMillis() - start < 1500; ++i) {
    if (::send(drip.get(), head.data() + std::min<size_t>(i, head.size() - 1), 1, MSG_NOSIGNAL) != 1) break;
    pollfd answered{drip.get(), POLLIN, 0};
    if (::poll(&answered, 1, 50) > 0) break;
  }
  std::string buf;
  EXPECT_EQ(ReadResponse(drip.get(), &buf).status, 408);
  EXPECT_LT(MonotonicMillis() - start, 1000);
  // A body that stops arriving.
  UniqueFd stall = RawConnect(path_);
  SendRaw(stall.get(), "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
  buf.clear();
  EXPECT_EQ(ReadResponse(stall.get(), &buf).status, 408);
  // A connection that never says anything is closed.
  UniqueFd silent = RawConnect(path_);
  EXPECT_TRUE(PeerCloses(silent.get()));
}

TEST_F(ServerLimitsTest, PastCapacityA503WithCloseAndHealthStillAnswers) {
  ServerOptions options;
  options.max_connections = 2;
  options.overflow_timeout_ms = 300;
  options.at_capacity = [](const Request& r) -> std::optional<Response> {
    if (r.path != "/health") return std::nullopt;
    Response ok;
    ok.status = 204;
    return ok;
  };
  StartServer(options);
  std::vector<UniqueFd> holders;
  for (int i = 0; i < 2; ++i) holders.push_back(RawConnect(path_));
  std::this_thread::sleep_for(100ms);  // both accepted and given their threads
  for (int i = 0; i < 20; ++i) {
    Response busy = RoundTrip("GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(busy.status, 503);
    EXPECT_EQ(busy.headers.Get("connection").value_or(""), "close");
    EXPECT_EQ(RoundTrip("GET /health HTTP/1.1\r\n\r\n").status, 204);
  }
  // A silent connection past capacity gets its 503 once the overflow wait passes, not a reset.
  UniqueFd silent = RawConnect(path_);
  std::string buf;
  EXPECT_EQ(ReadResponse(silent.get(), &buf).status, 503);
  holders.clear();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(RoundTrip("GET /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok").status, 200);
}

TEST_F(ServerLimitsTest, FixedLengthBodyAndShortOneIsCut) {
  StartServer({});
  Client c = Client::Unix(path_);
  auto r = c.Do("GET", "/fixed?n=100000", {}, {}, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->headers.Get("content-length").value_or(""), "100000");
  EXPECT_EQ(r->body, std::string(100000, 'x'));
  auto cut = c.Do("GET", "/fixed?n=100000&short", {}, {}, 5000);
  EXPECT_FALSE(cut.ok());
}

}  // namespace
}  // namespace kiln::http
