#include "kiln/protocol/connect.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::connect {
namespace {

TEST(ConnectEnvelopeTest, EncodeLayout) {
  std::string e = EncodeEnvelope(kFlagEndStream, "{}");
  EXPECT_EQ(e, std::string("\x02\x00\x00\x00\x02{}", 7));
  std::string big = EncodeEnvelope(0, std::string(0x010203, 'x'));
  EXPECT_EQ(big.substr(0, 5), std::string("\x00\x00\x01\x02\x03", 5));
}

TEST(ConnectEnvelopeTest, ReaderHandlesArbitrarySplits) {
  std::string stream = EncodeEnvelope(0, R"({"a":1})") + EncodeEnvelope(0, "") +
                       EncodeEnvelope(kFlagEndStream, R"({"error":{"code":"not_found"}})");
  EnvelopeReader r;
  std::vector<Envelope> got;
  Status err;
  for (char c : stream) {
    r.Feed(std::string_view(&c, 1));
    Envelope e;
    while (r.Next(&e, &err) == EnvelopeReader::Outcome::kEnvelope) got.push_back(e);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, R"({"a":1})");
  EXPECT_EQ(got[0].flags, 0);
  EXPECT_EQ(got[1].payload, "");
  EXPECT_EQ(got[2].flags, kFlagEndStream);
  EXPECT_EQ(r.pending(), 0u);
}

TEST(ConnectEnvelopeTest, ManyEnvelopesInOneFeed) {
  std::string stream;
  for (int i = 0; i < 20000; ++i) stream += EncodeEnvelope(0, std::to_string(i));
  EnvelopeReader r;
  r.Feed(stream);
  Envelope e;
  Status err;
  int n = 0;
  while (r.Next(&e, &err) == EnvelopeReader::Outcome::kEnvelope) {
    ASSERT_EQ(e.payload, std::to_string(n));
    ++n;
  }
  EXPECT_EQ(n, 20000);
  EXPECT_EQ(r.pending(), 0u);
}

TEST(ConnectEnvelopeTest, TruncatedLeavesPending) {
  EnvelopeReader r;
  r.Feed(EncodeEnvelope(0, "hello").substr(0, 7));
  Envelope e;
  Status err;
  EXPECT_EQ(r.Next(&e, &err), EnvelopeReader::Outcome::kNeedMore);
  EXPECT_EQ(r.pending(), 7u);
}

TEST(ConnectEnvelopeTest, RejectsCompressedUnknownAndHuge) {
  Envelope e;
  {
    EnvelopeReader r;
    Status err;
    r.Feed(EncodeEnvelope(kFlagCompressed, "x"));
    EXPECT_EQ(r.Next(&e, &err), EnvelopeReader::Outcome::kError);
    EXPECT_FALSE(err.ok());
  }
  {
    EnvelopeReader r;
    Status err;
    r.Feed(EncodeEnvelope(0x80, "x"));
    EXPECT_EQ(r.Next(&e, &err), EnvelopeReader::Outcome::kError);
  }
  {
    EnvelopeReader r;
    Status err;
    r.Feed(std::string("\x00\x7f\xff\xff\xff", 5));  // only the prefix: rejected before any payload
    EXPECT_EQ(r.Next(&e, &err), EnvelopeReader::Outcome::kError);
    EXPECT_EQ(err.code(), Code::kResourceExhausted);
  }
}

TEST(ConnectCodesTest, HttpMapping) {
  EXPECT_EQ(HttpStatusFor(Code::kOk), 200);
  EXPECT_EQ(HttpStatusFor(Code::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(Code::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(Code::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(Code::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(Code::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(Code::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(Code::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(Code::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(Code::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(Code::kDeadlineExceeded), 504);
  EXPECT_EQ(CodeForHttpStatus(401), Code::kPermissionDenied);
  EXPECT_EQ(CodeForHttpStatus(418), Code::kInternal);
  EXPECT_EQ(CodeForHttpStatus(204), Code::kOk);
  // Symmetric for every code except failed_precondition, which shares 400 with invalid_argument.
  for (Code c : {Code::kOk, Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                 Code::kPermissionDenied, Code::kResourceExhausted, Code::kDeadlineExceeded,
                 Code::kUnavailable, Code::kUnimplemented, Code::kInternal}) {
    EXPECT_EQ(CodeForHttpStatus(HttpStatusFor(c)), c) << CodeName(c);
  }
}

TEST(ConnectCodesTest, CodeNames) {
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists, Code::kPermissionDenied,
                 Code::kResourceExhausted, Code::kFailedPrecondition, Code::kDeadlineExceeded,
                 Code::kUnavailable, Code::kUnimplemented, Code::kInternal}) {
    Code parsed = Code::kOk;
    ASSERT_TRUE(ParseCodeName(CodeName(c), &parsed)) << CodeName(c);
    EXPECT_EQ(parsed, c);
  }
  Code c = Code::kOk;
  EXPECT_TRUE(ParseCodeName("unauthenticated", &c));
  EXPECT_EQ(c, Code::kPermissionDenied);
  EXPECT_TRUE(ParseCodeName("unknown", &c));
  EXPECT_EQ(c, Code::kInternal);
  EXPECT_FALSE(ParseCodeName("NOT_FOUND", &c));
  EXPECT_FALSE(ParseCodeName("ok", &c));
}

TEST(ConnectErrorTest, ErrorJsonFormat) {
  EXPECT_EQ(ErrorJson(NotFound("no such file: /a")), R"({"code":"not_found","message":"no such file: /a"})");
  EXPECT_EQ(EndStreamJson(Status::Ok()), "{}");
  EXPECT_EQ(EndStreamJson(Unavailable("gone")), R"({"error":{"code":"unavailable","message":"gone"}})");
  // Invalid UTF-8 in a message (a raw path, say) must not throw out of the module.
  std::string json = ErrorJson(Internal("bad \xff\xfe bytes"));
  EXPECT_NE(json.find("internal"), std::string::npos);
}

TEST(ConnectErrorTest, StatusFromErrorBody) {
  Status s = StatusFromErrorBody(404, ErrorJson(NotFound("x")));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "x");
  EXPECT_EQ(StatusFromErrorBody(401, R"({"code":"unauthenticated","message":"m"})").code(),
            Code::kPermissionDenied);
  Status proxy = StatusFromErrorBody(503, "<html>upstream down</html>");
  EXPECT_EQ(proxy.code(), Code::kUnavailable);
  EXPECT_NE(proxy.message().find("upstream down"), std::string::npos);
  EXPECT_EQ(StatusFromErrorBody(409, R"({"code":"bogus"})").code(), Code::kAlreadyExists);
  EXPECT_EQ(StatusFromErrorBody(400, R"([1,2])").code(), Code::kInvalidArgument);
  EXPECT_TRUE(StatusFromErrorBody(200, "").ok());
}

TEST(ConnectErrorTest, StatusFromEndStream) {
  EXPECT_TRUE(StatusFromEndStream("{}").ok());
  EXPECT_TRUE(StatusFromEndStream(R"({"metadata":{"k":["v"]}})").ok());
  Status s = StatusFromEndStream(EndStreamJson(DeadlineExceeded("slow")));
  EXPECT_EQ(s.code(), Code::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "slow");
  EXPECT_EQ(StatusFromEndStream("not json").code(), Code::kInternal);
  EXPECT_EQ(StatusFromEndStream(R"({"error":{"code":"weird","message":"m"}})").code(), Code::kInternal);
}

}  // namespace
}  // namespace kiln::connect
