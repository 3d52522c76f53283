#include "kiln/llm/retry.h"

#include <gtest/gtest.h>

#include "kiln/llm/http.h"

namespace kiln::llm {
namespace {

using std::chrono::milliseconds;

RetryPolicy Policy() {
  RetryPolicy p;
  p.random = [] { return 0.0; };                            // no jitter
  p.now_unix_seconds = [] { return int64_t{1445412480}; };  // Wed, 21 Oct 2015 07:28:00 GMT
  return p;
}

HttpResponse Resp(int status, HttpHeaders headers = {}) {
  return HttpResponse{status, std::move(headers), ""};
}

TEST(Retry, RetryableStatuses) {
  RetryPolicy p = Policy();
  for (int s : {408, 409, 429, 500, 502, 503, 504, 529}) {
    HttpResponse r = Resp(s);
    EXPECT_TRUE(DecideRetry(p, 0, &r, Status::Ok()).retry) << s;
  }
  for (int s : {400, 401, 403, 404, 422}) {
    HttpResponse r = Resp(s);
    EXPECT_FALSE(DecideRetry(p, 0, &r, Status::Ok()).retry) << s;
  }
}

TEST(Retry, ShouldRetryHeaderOverrides) {
  RetryPolicy p = Policy();
  HttpResponse yes = Resp(400, {{"x-should-retry", "true"}});
  HttpResponse no = Resp(503, {{"x-should-retry", "false"}});
  EXPECT_TRUE(DecideRetry(p, 0, &yes, Status::Ok()).retry);
  EXPECT_FALSE(DecideRetry(p, 0, &no, Status::Ok()).retry);
}

TEST(Retry, ExponentialBackoffCappedWithJitter) {
  RetryPolicy p = Policy();
  p.max_retries = 10;
  HttpResponse r = Resp(500);
  EXPECT_EQ(DecideRetry(p, 0, &r, Status::Ok()).delay, milliseconds(500));
  EXPECT_EQ(DecideRetry(p, 1, &r, Status::Ok()).delay, milliseconds(1000));
  EXPECT_EQ(DecideRetry(p, 3, &r, Status::Ok()).delay, milliseconds(4000));
  EXPECT_EQ(DecideRetry(p, 6, &r, Status::Ok()).delay, milliseconds(8000));
  p.random = [] { return 0.999; };
  milliseconds d = DecideRetry(p, 0, &r, Status::Ok()).delay;
  EXPECT_GE(d, milliseconds(375));
  EXPECT_LT(d, milliseconds(500));
}

TEST(Retry, StopsAtMaxRetries) {
  RetryPolicy p = Policy();
  HttpResponse r = Resp(500);
  EXPECT_TRUE(DecideRetry(p, 1, &r, Status::Ok()).retry);
  EXPECT_FALSE(DecideRetry(p, 2, &r, Status::Ok()).retry);
}

TEST(Retry, RetryAfterForms) {
  RetryPolicy p = Policy();
  HttpResponse ms = Resp(429, {{"retry-after-ms", "250"}, {"retry-after", "9"}});
  EXPECT_EQ(DecideRetry(p, 0, &ms, Status::Ok()).delay, milliseconds(250));
  HttpResponse secs = Resp(429, {{"retry-after", "1.5"}});
  EXPECT_EQ(DecideRetry(p, 0, &secs, Status::Ok()).delay, milliseconds(1500));
  HttpResponse date = Resp(503, {{"retry-after", "Wed, 21 Oct 2015 07:28:30 GMT"}});
  EXPECT_EQ(DecideRetry(p, 0, &date, Status::Ok()).delay, milliseconds(30000));
  HttpResponse junk = Resp(503, {{"retry-after", "soon"}});
  EXPECT_EQ(DecideRetry(p, 0, &junk, Status::Ok()).delay, milliseconds(500));  // falls back to backoff
}

TEST(Retry, RetryAfterAboveCapIsNotRetried) {
  RetryPolicy p = Policy();
  HttpResponse r = Resp(429, {{"retry-after", "61"}});
  RetryDecision d = DecideRetry(p, 0, &r, Status::Ok());
  EXPECT_FALSE(d.retry);
  EXPECT_TRUE(d.hint_too_long);
}

TEST(Retry, TransportErrors) {
  RetryPolicy p = Policy();
  EXPECT_TRUE(DecideRetry(p, 0, nullptr, Unavailable("reset")).retry);
  EXPECT_TRUE(DecideRetry(p, 0, nullptr, DeadlineExceeded("slow")).retry);
  EXPECT_FALSE(DecideRetry(p, 0, nullptr, InvalidArgument("bad url")).retry);
}

TEST(Retry, SleepUsesSeam) {
  RetryPolicy p = Policy();
  milliseconds slept{0};
  p.sleep = [&](milliseconds d) { slept = d; };
  SleepFor(p, milliseconds(1234));
  EXPECT_EQ(slept, milliseconds(1234));
}

TEST(Http, ParseServer) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(ParseServer("https://api.openai.com/v1", &host, &port));
  EXPECT_EQ(host, "api.openai.com");
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(ParseServer("http://localhost:11434/v1", &host, &port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 11434);
  EXPECT_FALSE(ParseServer("localhost:11434", &host, &port));
}

}  // namespace
}  // namespace kiln::llm
