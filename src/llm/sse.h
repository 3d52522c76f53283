// Internal: an incremental parser for server-sent events (the WHATWG "text/event-stream" format), as the
// streaming endpoints of every provider send them.
//
// Bytes arrive in arbitrary chunks; Feed() returns each event completed by them. Lines end in LF, CRLF or CR;
// "event:" names the event, "data:" lines are joined with LF, "id:"/"retry:" and ":" comments are ignored;
// a blank line dispatches the event (events without data are dropped, as the spec says). A line longer than
// max_line_bytes fails with kResourceExhausted, so a hostile server cannot make it buffer without bound.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::llm {

struct SseEvent {
  std::string event;  // "" when the server named none (the spec's default type "message")
  std::string data;
};

class SseParser {
 public:
  explicit SseParser(size_t max_line_bytes = 64 << 20) : max_line_bytes_(max_line_bytes) {}
  // Appends the events completed by `bytes` to `out`.
  Status Feed(std::string_view bytes, std::vector<SseEvent>& out);
  // The event left open when the stream ended without a final blank line (servers that omit it), if any.
  std::vector<SseEvent> Finish();

 private:
  void Line(std::string_view line, std::vector<SseEvent>& out);
  void Dispatch(std::vector<SseEvent>& out);

  size_t max_line_bytes_;
  std::string line_;
  bool after_cr_ = false;  // the previous byte was CR: a following LF belongs to the same line end
  std::string event_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace kiln::llm
