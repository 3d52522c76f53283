#include "kiln/protocol/http.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln::http {
namespace {

using State = Parser::State;

// Feeds everything at once, then (if asked) EOF.
Parser ParseWhole(std::string_view raw, Parser::Kind kind = Parser::Kind::kRequest, Limits limits = {},
                  bool eof = false) {
  Parser p(kind, limits);
  size_t used = p.Feed(raw);
  EXPECT_LE(used, raw.size());
  if (eof) p.FeedEof();
  return p;
}

// Feeds one byte per call; the result must not depend on how the bytes were split.
Parser ParseBytewise(std::string_view raw, Parser::Kind kind = Parser::Kind::kRequest, Limits limits = {},
                     bool eof = false) {
  Parser p(kind, limits);
  for (size_t i = 0; i < raw.size() && p.state() == State::kNeedMore; ++i) {
    EXPECT_EQ(p.Feed(raw.substr(i, 1)), 1u) << "at byte " << i;
  }
  if (eof) p.FeedEof();
  return p;
}

int ErrorStatus(std::string_view raw, Limits limits = {}) {
  Parser p = ParseWhole(raw, Parser::Kind::kRequest, limits);
  EXPECT_EQ(p.state(), State::kError) << raw;
  return p.state() == State::kError ? p.error().status : 0;
}

TEST(HttpParserTest, SimpleGet) {
  Parser p = ParseWhole("GET /files?path=%2Fa HTTP/1.1\r\nHost: x\r\nX-Thing:  v a l  \r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().target, "/files?path=%2Fa");
  EXPECT_EQ(p.request().path, "/files");
  EXPECT_EQ(p.request().Query("path"), "/a");
  EXPECT_EQ(p.request().headers.Get("x-thing"), "v a l");
  EXPECT_EQ(p.request().headers.Get("HOST"), "x");
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(p.minor_version(), 1);
}

TEST(HttpParserTest, PercentDecodingOfPathAndQuery) {
  Parser p = ParseWhole("GET /a%20b/c+d?x=a+b%2Bc&flag&&y=%E2%82%AC&x=2 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().path, "/a b/c+d");  // '+' is only a space in the query
  std::vector<std::pair<std::string, std::string>> want = {
      {"x", "a b+c"}, {"flag", ""}, {"y", "\u20ac"}, {"x", "2"}};
  EXPECT_EQ(p.request().query, want);
  EXPECT_EQ(p.request().Query("x"), "a b+c");
  EXPECT_FALSE(p.request().Query("nope"));
}

TEST(HttpParserTest, MalformedPercentEscapeIs400) {
  EXPECT_EQ(ErrorStatus("GET /a%zz HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a%2 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a?x=%G1 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a?x=1% HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET /a%00b HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpParserTest, MalformedStartLines) {
  for (std::string_view raw : {"GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
                               "GET / FOO/1.1\r\n\r\n", "/ HTTP/1.1\r\n\r\n", "GET relative HTTP/1.1\r\n\r\n",
                               "G(T / HTTP/1.1\r\n\r\n", "GET /a\x01 HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(ErrorStatus(raw), 400) << raw;
  }
  EXPECT_EQ(ErrorStatus("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(ErrorStatus(std::string("GE\0T / HTTP/1.1\r\n\r\n", 19)), 400);
}

TEST(HttpParserTest, BadHeaderLines) {
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nName : v\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nName: v\r\n  folded\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\n: empty-name\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"), 400);
  Parser p = ParseWhole("GET / HTTP/1.1\r\nName: v\r\n  folded\r\n\r\n");
  EXPECT_NE(p.error().message.find("folding"), std::string::npos) << p.error().message;
}

TEST(HttpParserTest, ContentLengthBody) {
  Parser p = ParseWhole("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().body, "hello");
  EXPECT_EQ(ParseWhole("POST /x HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello").state(), State::kComplete);
  EXPECT_EQ(ParseWhole("POST /x HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello").state(),
            State::kComplete);
}

TEST(HttpParserTest, BadContentLength) {
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 1.5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"), 413);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"), 400);
}

TEST(HttpParserTest, BodyOverLimitRejectedAtHeaders) {
  Limits limits;
  limits.max_body_bytes = 10;
  // Only the header is fed: the verdict must not wait for (or buffer) the body.
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits), 413);
  EXPECT_EQ(
      ParseWhole("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", Parser::Kind::kRequest, limits)
          .state(),
      State::kComplete);
}

TEST(HttpParserTest, ContentLengthWithChunkedIsRejected) {
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400);
}

TEST(HttpParserTest, UnsupportedTransferCoding) {
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(ErrorStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  EXPECT_EQ(
      ErrorStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
      400);
}

TEST(HttpParserTest, ChunkedWithExtensionsAndTrailers) {
  std::string raw =
      "POST /up HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "4\r\nWiki\r\n5;name=value;x\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0;last\r\nX-Trailer: t\r\n\r\n";
  for (Parser p : {ParseWhole(raw), ParseBytewise(raw)}) {
    ASSERT_EQ(p.state(), State::kComplete) << p.error().message;
    EXPECT_EQ(p.request().body, "Wikipedia in\r\n\r\nchunks.");
    EXPECT_FALSE(p.request().headers.Has("x-trailer"));  // trailers are accepted, never merged
  }
}

TEST(HttpParserTest, BadChunks) {
  const std::string h = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(ErrorStatus(h + "zz\r\n"), 400);
  EXPECT_EQ(ErrorStatus(h + "\r\n"), 400);
  EXPECT_EQ(ErrorStatus(h + "-1\r\n"), 400);
  EXPECT_EQ(ErrorStatus(h + "4\r\nWikiXX"), 400);  // no CRLF after data
  EXPECT_EQ(ErrorStatus(h + "4\r\nWiki\n"), 400);
  EXPECT_EQ(ErrorStatus(h + "4\nWiki\r\n"), 400);  // bare LF ends the size line
  EXPECT_EQ(ErrorStatus(h + "0\r\nbad trailer\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus(h + "FFFFFFFFFFFFFFFFFFFF\r\n"), 413);
  EXPECT_EQ(ErrorStatus(h + std::string(5000, '1')), 400);  // endless size line
  Parser p = ParseWhole(h + "4\r\nWikiXX");
  EXPECT_NE(p.error().message.find("CRLF"), std::string::npos) << p.error().message;
}

TEST(HttpParserTest, AccumulatedChunksOverLimitRejectedBeforeData) {
  Limits limits;
  limits.max_body_bytes = 10;
  const std::string h = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  // The second size line alone pushes the total past the limit: 413 before its data arrives.
  EXPECT_EQ(ErrorStatus(h + "8\r\n12345678\r\n8\r\n", limits), 413);
  EXPECT_EQ(ParseWhole(h + "8\r\n12345678\r\n2\r\n12\r\n0\r\n\r\n", Parser::Kind::kRequest, limits).state(),
            State::kComplete);
}

TEST(HttpParserTest, HeaderBlockOverLimitIs431) {
  Limits limits;
  limits.max_header_bytes = 100;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  EXPECT_EQ(ErrorStatus(big, limits), 431);  // no terminator ever seen
  EXPECT_EQ(ErrorStatus(big + "\r\n\r\n", limits), 431);
  Parser p = ParseBytewise(big, Parser::Kind::kRequest, limits);
  EXPECT_EQ(p.error().status, 431);
  std::string fits = "GET / HTTP/1.1\r\nX: " + std::string(100 - 23, 'a') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 100u);
  EXPECT_EQ(ParseWhole(fits, Parser::Kind::kRequest, limits).state(), State::kComplete);
}

// Found by the http_response fuzz target: with no header limit (SIZE_MAX) the head's buffer bound wrapped
// to zero and the parser took no bytes, waiting forever for a message it already had.
TEST(HttpParserTest, NoHeaderLimitStillParses) {
  Limits unlimited{SIZE_MAX, SIZE_MAX};
  Parser p =
      ParseWhole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Parser::Kind::kResponse, unlimited);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.response().body, "hello");
  EXPECT_EQ(ParseBytewise("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Parser::Kind::kRequest, unlimited).state(),
            State::kComplete);
}

TEST(HttpParserTest, TruncatedThenEof) {
  for (std::string_view raw : {"GET / HTTP/1.1\r\nHost", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
                               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"}) {
    Parser p = ParseWhole(raw, Parser::Kind::kRequest, {}, /*eof=*/true);
    ASSERT_EQ(p.state(), State::kError) << raw;
    EXPECT_NE(p.error().message.find("truncated"), std::string::npos) << p.error().message;
  }
}

TEST(HttpParserTest, PipelinedRequestsInOneFeed) {
  std::string raw =
      "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "GET /b HTTP/1.1\r\n\r\n"
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
  Parser p(Parser::Kind::kRequest);
  std::vector<std::string> seen;
  std::string_view rest = raw;
  while (!rest.empty()) {
    rest.remove_prefix(p.Feed(rest));
    ASSERT_EQ(p.state(), State::kComplete);
    seen.push_back(p.request().path + ":" + p.request().body);
    p.Reset();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"/a:abc", "/b:", "/c:z"}));
}

TEST(HttpParserTest, BytewiseMatchesWhole) {
  Limits small;
  small.max_body_bytes = 6;
  small.max_header_bytes = 60;
  std::vector<std::string> inputs = {
      "GET /x?y=1 HTTP/1.1\r\nA: b\r\n\r\n",
      "\r\nGET / HTTP/1.0\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n",
      "GET / HTTP/1.1\r\nX: " + std::string(80, 'x') + "\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
  };
  for (const std::string& raw : inputs) {
    Parser a = ParseWhole(raw, Parser::Kind::kRequest, small);
    Parser b = ParseBytewise(raw, Parser::Kind::kRequest, small);
    EXPECT_EQ(a.state(), b.state()) << raw;
    EXPECT_EQ(a.error().status, b.error().status) << raw;
    EXPECT_EQ(a.request().body, b.request().body) << raw;
    EXPECT_EQ(a.request().path, b.request().path) << raw;
  }
}

TEST(HttpParserTest, KeepAliveRules) {
  EXPECT_FALSE(ParseWhole("GET / HTTP/1.0\r\n\r\n").keep_alive());
  EXPECT_EQ(ParseWhole("GET / HTTP/1.0\r\n\r\n").minor_version(), 0);
  EXPECT_TRUE(ParseWhole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
  EXPECT_TRUE(ParseWhole("GET / HTTP/1.1\r\n\r\n").keep_alive());
  EXPECT_FALSE(ParseWhole("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").keep_alive());
}

TEST(HttpParserTest, ResponseFraming) {
  using K = Parser::Kind;
  Parser cl = ParseWhole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", K::kResponse);
  ASSERT_EQ(cl.state(), State::kComplete);
  EXPECT_EQ(cl.response().body, "hi");
  EXPECT_EQ(cl.response().status, 200);

  Parser ch = ParseWhole("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
                         K::kResponse);
  ASSERT_EQ(ch.state(), State::kComplete);
  EXPECT_EQ(ch.response().body, "hi");

  Parser uc = ParseWhole("HTTP/1.1 200 Whatever You Like\r\n\r\nuntil close", K::kResponse);
  EXPECT_EQ(uc.state(), State::kNeedMore);
  uc.FeedEof();
  ASSERT_EQ(uc.state(), State::kComplete);
  EXPECT_EQ(uc.response().body, "until close");
  EXPECT_FALSE(uc.keep_alive());

  for (std::string_view raw : {"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
                               "HTTP/1.1 304 Not Modified\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n"}) {
    Parser p = ParseWhole(raw, K::kResponse);
    EXPECT_EQ(p.state(), State::kComplete) << raw;
    EXPECT_TRUE(p.keep_alive()) << raw;
  }
  Parser head(K::kResponse);
  head.ExpectNoBody();
  head.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  EXPECT_EQ(head.state(), State::kComplete);

  Parser bare = ParseWhole("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", K::kResponse);
  EXPECT_EQ(bare.state(), State::kComplete) << bare.error().message;
  EXPECT_EQ(ParseWhole("OPTIONS * HTTP/1.1\r\n\r\n").state(), State::kComplete);
  EXPECT_EQ(ParseWhole("GET * HTTP/1.1\r\n\r\n").state(), State::kError);
  EXPECT_EQ(ParseWhole("HTTP/1.1 2000 OK\r\n\r\n", K::kResponse).state(), State::kError);
  EXPECT_EQ(ParseWhole("HTTP/1.1 OK\r\n\r\n", K::kResponse).state(), State::kError);
}

TEST(HttpParserTest, TakeBodyStreamsPieces) {
  Parser p(Parser::Kind::kResponse);
  p.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(p.headers_done());
  EXPECT_EQ(p.TakeBody(), "");
  p.Feed("3\r\nabc\r\n2\r\nd");
  EXPECT_EQ(p.TakeBody(), "abcd");
  p.Feed("e\r\n0\r\n\r\n");
  EXPECT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.TakeBody(), "e");
}

TEST(HttpParserTest, UntilCloseBodyHonoursLimit) {
  Limits limits;
  limits.max_body_bytes = 4;
  Parser p = ParseWhole("HTTP/1.1 200 OK\r\n\r\n12345", Parser::Kind::kResponse, limits);
  EXPECT_EQ(p.state(), State::kError);
  EXPECT_EQ(p.error().status, 413);
}

TEST(HttpSerializeTest, ResponseRoundTrip) {
  Response r;
  r.status = 404;
  r.headers.Add("Content-Type", "text/plain");
  r.body = "nope";
  std::string wire = SerializeResponse(r);
  EXPECT_EQ(wire, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope");
  r.status = 204;
  EXPECT_EQ(SerializeResponse(r), "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n");
}

TEST(HttpSerializeTest, HeaderValuesCannotInjectFields) {
  Response r;
  r.headers.Add("X-Name", "a\r\nX-Evil: 1\r\n\r\nbody");
  Parser p = ParseWhole(SerializeResponse(r), Parser::Kind::kResponse);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_FALSE(p.response().headers.Has("x-evil"));
  EXPECT_EQ(p.response().body, "");
}

TEST(HttpSerializeTest, RequestRoundTrip) {
  Headers h;
  h.Add("Host", "localhost");
  std::string wire = SerializeRequest("PUT", "/f?path=%2Fx", h, "data");
  Parser p = ParseWhole(wire);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().method, "PUT");
  EXPECT_EQ(p.request().Query("path"), "/x");
  EXPECT_EQ(p.request().body, "data");
  EXPECT_NE(SerializeRequest("POST", "/", {}, "").find("Content-Length: 0\r\n"), std::string::npos);
  EXPECT_EQ(SerializeRequest("GET", "/", {}, "").find("Content-Length"), std::string::npos);
}

TEST(HttpSerializeTest, EncodeChunk) {
  EXPECT_EQ(EncodeChunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(EncodeChunk(""), "");
  EXPECT_EQ(EncodeChunk(std::string(255, 'x')).substr(0, 4), "ff\r\n");
  std::string body = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     EncodeChunk(std::string(4096, 'y')) + EncodeChunk("z") + std::string(kLastChunk);
  Parser p = ParseWhole(body);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().body, std::string(4096, 'y') + "z");
}

TEST(HttpHeadersTest, CaseInsensitiveAndSet) {
  Headers h;
  h.Add("A", "1");
  h.Add("a", "2");
  EXPECT_EQ(h.Get("A"), "1");
  h.Set("A", "3");
  EXPECT_EQ(h.fields().size(), 1u);
  EXPECT_EQ(h.Get("a"), "3");
  EXPECT_FALSE(h.Has("b"));
}

TEST(HttpQueryTest, ParseQuery) {
  std::vector<std::pair<std::string, std::string>> q{{"stale", "x"}};
  ASSERT_TRUE(ParseQuery("a=1&&b=&c&d=x%3Dy=z", &q));
  std::vector<std::pair<std::string, std::string>> want = {{"a", "1"}, {"b", ""}, {"c", ""}, {"d", "x=y=z"}};
  EXPECT_EQ(q, want);
  EXPECT_FALSE(ParseQuery("a=%4", &q));
  EXPECT_TRUE(ParseQuery("", &q));
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace kiln::http
