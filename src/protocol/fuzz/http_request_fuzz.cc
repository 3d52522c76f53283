// libFuzzer target: the HTTP request parser, fed in pieces whose sizes the input chooses, with the server's
// pause-after-head and per-request body limit. Checks the parser's own contract, not just crashes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/protocol/http.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = data[0] % 64 + 1;
  const uint64_t limit = uint64_t{data[1]} * 16;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  kiln::http::Parser parser(kiln::http::Parser::Kind::kRequest, kiln::http::Limits{1024, SIZE_MAX});
  parser.PauseAfterHeaders();
  bool limited = false;
  size_t body_bytes = 0;
  std::string pending;
  for (size_t pos = 0; pos < input.size() && parser.state() == kiln::http::Parser::State::kNeedMore;) {
    pending.append(input.substr(pos, step));
    pos += step;
    for (;;) {
      size_t used = parser.Feed(pending);
      Check(used <= pending.size());
      pending.erase(0, used);
      if (parser.headers_done() && !limited) {
        limited = true;
        parser.LimitBody(limit);
      }
      body_bytes += parser.TakeBody().size();
      if (used == 0 || parser.state() != kiln::http::Parser::State::kNeedMore) break;
    }
  }
  Check(body_bytes <= limit || !limited);
  if (parser.complete()) {
    Check(!parser.request().method.empty());
    Check(!parser.request().path.empty());
    Check(parser.request().path.find('\0') == std::string::npos);
  }
  if (parser.state() == kiln::http::Parser::State::kError) {
    int status = parser.error().status;
    Check(status == 400 || status == 413 || status == 431 || status == 501 || status == 505);
  }
  return 0;
}
