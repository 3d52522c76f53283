#include "sse.h"

#include <utility>

namespace kiln::llm {

Status SseParser::Feed(std::string_view bytes, std::vector<SseEvent>& out) {
  for (char ch : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (ch == '\n') continue;
    }
    if (ch == '\r' || ch == '\n') {
      after_cr_ = ch == '\r';
      Line(line_, out);
      line_.clear();
      continue;
    }
    if (line_.size() >= max_line_bytes_) {
      return ResourceExhausted("event stream line longer than " + std::to_string(max_line_bytes_) + " bytes");
    }
    line_ += ch;
  }
  return Status::Ok();
}

std::vector<SseEvent> SseParser::Finish() {
  std::vector<SseEvent> out;
  if (!line_.empty()) Line(line_, out);
  line_.clear();
  Dispatch(out);
  return out;
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    Dispatch(out);
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive)
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_ = std::string(value);
  } else if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  }
}

void SseParser::Dispatch(std::vector<SseEvent>& out) {
  if (has_data_) out.push_back({std::move(event_), std::move(data_)});
  event_.clear();
  data_.clear();
  has_data_ = false;
}

}  // namespace kiln::llm
