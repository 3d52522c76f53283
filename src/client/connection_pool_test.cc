// ConnectionPool against a real HTTP server on a unix socket: calls reuse one kept connection, a connection
// whose stream was stopped is not kept, and calls at the same time get connections of their own.
#include "connection_pool.h"

#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/protocol/http_server.h"

namespace kiln::client {
namespace {

class ConnectionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/kiln-pool-" + std::to_string(::getpid()) + ".sock";
    auto fd = http::ListenUnix(path_);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    // The server runs each connection on a thread of its own: a request's number on its thread is its
    // number on its connection (1 = a new connection).
    server_ = std::make_unique<http::Server>([](http::Request& r, http::ResponseWriter& w) {
      thread_local int served = 0;
      const std::string number = std::to_string(++served);
      if (r.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (r.path == "/stream") {
        http::Headers h;
        h.Set("X-Served", number);
        (void)w.StartStream(200, h);
        (void)w.Write("one\n");
        (void)w.Write("two\n");
        (void)w.Finish();
        return;
      }
      http::Response ok;
      ok.status = 200;
      ok.headers.Set("X-Served", number);
      (void)w.Send(ok);
    });
    ASSERT_TRUE(server_->Start(std::move(fd).value()).ok());
  }
  void TearDown() override {
    server_->Shutdown();
    ::unlink(path_.c_str());
  }
  // The answer's number on its connection, or -1 when the call failed.
  int Get(ConnectionPool& pool, const std::string& target) {
    PooledClient client(pool);
    auto r = client->Do("GET", target, {}, {}, 5000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->status == 200 ? std::stoi(std::string(r->headers.Get("x-served").value_or("-1")))
                                      : -1;
  }

  std::string path_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ConnectionPoolTest, SequentialCallsReuseOneConnection) {
  ConnectionPool pool(path_);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(Get(pool, "/"), i);
}

TEST_F(ConnectionPoolTest, StoppedStreamIsNotKept) {
  ConnectionPool pool(path_);
  {
    PooledClient client(pool);
    Status s = client->Stream(
        "GET", "/stream", {}, {}, [](const http::Response&) {}, [](std::string_view) { return false; }, 5000);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(Get(pool, "/"), 1) << "the stopped stream's connection was reused";
}

TEST_F(ConnectionPoolTest, ConcurrentCallsGetTheirOwnConnections) {
  ConnectionPool pool(path_);
  std::atomic<int> fresh{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) callers.emplace_back([&] { fresh += Get(pool, "/slow") == 1; });
  for (auto& t : callers) t.join();
  EXPECT_EQ(fresh.load(), 3) << "calls at the same time shared a connection";
  for (int i = 0; i < 3; ++i) EXPECT_GT(Get(pool, "/"), 1) << "a kept connection was not reused";
}

TEST_F(ConnectionPoolTest, ServerGoneMeansANewConnectionNotAFailure) {
  ConnectionPool pool(path_);
  ASSERT_EQ(Get(pool, "/"), 1);
  // The server restarts on the same path: the kept connection is dead, the next call must still work.
  server_->Shutdown();
  ::unlink(path_.c_str());
  SetUp();
  EXPECT_EQ(Get(pool, "/"), 1);
}

}  // namespace
}  // namespace kiln::client
