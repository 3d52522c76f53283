// libFuzzer target: the HTTP response parser, as the host side uses it on what a sandbox's envd (hostile
// code may have replaced it) sends back: fed in pieces whose sizes the input chooses, with or without the
// peer closing at the end, for a HEAD request or not. A complete response must serialize and parse back to
// the same status and body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "kiln/base/strings.h"
#include "kiln/protocol/http.h"

namespace {

using kiln::http::Parser;

// Feeds `pending` until the parser takes no more of it; returns the body bytes it produced.
std::string FeedAll(Parser& parser, std::string& pending);

bool IsFraming(const std::string& name) {
  return kiln::EqualsIgnoreCase(name, "content-length") || kiln::EqualsIgnoreCase(name, "transfer-encoding");
}

// Serializes what was parsed (with our own framing) and parses it again in one piece.
void CheckRoundTrip(const kiln::http::Response& parsed, const std::string& body) {
  if (parsed.status < 200 || parsed.status == 204 || parsed.status == 304) return;  // no body by definition
  kiln::http::Response again;
  again.status = parsed.status;
  for (const auto& [name, value] : parsed.headers.fields())
    if (!IsFraming(name)) again.headers.Add(name, value);
  again.body = body;
  std::string wire = kiln::http::SerializeResponse(again);
  Parser reparse(Parser::Kind::kResponse, kiln::http::Limits{SIZE_MAX, SIZE_MAX});
  std::string reparsed_body = FeedAll(reparse, wire);
  KILN_FUZZ_CHECK(wire.empty());
  KILN_FUZZ_CHECK(reparse.complete());
  KILN_FUZZ_CHECK(reparse.response().status == parsed.status);
  KILN_FUZZ_CHECK(reparsed_body == body);
}

std::string FeedAll(Parser& parser, std::string& pending) {
  std::string body;
  for (;;) {
    size_t used = parser.Feed(pending);
    KILN_FUZZ_CHECK(used <= pending.size());
    pending.erase(0, used);
    body += parser.TakeBody();
    if (used == 0 || parser.state() != Parser::State::kNeedMore) return body;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = data[0] % 64 + 1;
  const bool head_request = data[1] & 1, peer_closes = data[1] & 2;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  Parser parser(Parser::Kind::kResponse, kiln::http::Limits{2048, 1 << 16});
  if (head_request) parser.ExpectNoBody();
  std::string body, pending;
  for (size_t pos = 0; pos < input.size() && parser.state() == Parser::State::kNeedMore;) {
    pending.append(input.substr(pos, step));
    pos += step;
    body += FeedAll(parser, pending);
  }
  if (peer_closes && parser.state() == Parser::State::kNeedMore) {
    parser.FeedEof();
    body += parser.TakeBody();
  }
  KILN_FUZZ_CHECK(body.size() <= (1 << 16));
  if (parser.complete()) {
    KILN_FUZZ_CHECK(parser.response().status >= 100 && parser.response().status <= 999);
    if (head_request) KILN_FUZZ_CHECK(body.empty());
    if (!head_request) CheckRoundTrip(parser.response(), body);
  }
  if (parser.state() == Parser::State::kError) KILN_FUZZ_CHECK(!parser.error().message.empty());
  return 0;
}
