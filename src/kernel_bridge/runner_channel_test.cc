#include "kiln/kernel_bridge/runner_channel.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace kiln::kernel_bridge {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe(fds), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void CloseWrite() {
    ::close(fds[1]);
    fds[1] = -1;
  }
  std::string ReadSome() {
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
};

TEST(FrameBytes, BigEndianLengthPrefix) {
  EXPECT_EQ(FrameBytes("abc"), std::string("\0\0\0\3abc", 7));
  EXPECT_EQ(FrameBytes(std::string(258, 'x')).substr(0, 4), std::string("\0\0\1\2", 4));
}

TEST(RunnerChannel, ReadsRequestsUntilEndOfFile) {
  Pipe requests, events;
  RunnerChannel channel(requests.fds[0], events.fds[1]);
  std::string frames = FrameBytes(R"({"type":"execute","code":"x = 1","token":"t"})") + FrameBytes("[1]");
  ASSERT_EQ(::write(requests.fds[1], frames.data(), frames.size()), static_cast<ssize_t>(frames.size()));
  requests.CloseWrite();
  auto first = channel.ReadRequest();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["code"], "x = 1");
  EXPECT_EQ(channel.ReadRequest().status().code(), Code::kInvalidArgument);  // not an object
  EXPECT_EQ(channel.ReadRequest().status().code(), Code::kUnavailable);      // envd closed it
}

TEST(RunnerChannel, TruncatedFrameIsAnError) {
  Pipe requests, events;
  RunnerChannel channel(requests.fds[0], events.fds[1]);
  std::string partial = FrameBytes(R"({"type":"execute"})").substr(0, 8);
  ASSERT_EQ(::write(requests.fds[1], partial.data(), partial.size()), 8);
  requests.CloseWrite();
  auto r = channel.ReadRequest();
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("middle of a frame"), std::string::npos);
}

TEST(RunnerChannel, SendsFramedEvents) {
  Pipe requests, events;
  RunnerChannel channel(requests.fds[0], events.fds[1]);
  ASSERT_TRUE(channel.SendEvent({{"type", "stdout"}, {"text", "hi\n"}}).ok());
  EXPECT_EQ(events.ReadSome(), FrameBytes(R"({"text":"hi\n","type":"stdout"})"));
}

}  // namespace
}  // namespace kiln::kernel_bridge
