// libFuzzer target: the incremental multipart reader, differential: fed in pieces it must report exactly
// what it reports for the whole body at once, and never hand over more data than it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/envd/multipart.h"

namespace {

class Log : public kiln::envd::MultipartSink {
 public:
  kiln::Status OnPart(const kiln::envd::FormPart& part) override {
    text += "<" + part.name + "|" + part.filename.value_or("-") + ">";
    return kiln::Status::Ok();
  }
  kiln::Status OnData(std::string_view data) override {
    text += data;
    data_bytes += data.size();
    return kiln::Status::Ok();
  }
  kiln::Status OnPartEnd() override {
    text += "</>";
    return kiln::Status::Ok();
  }
  std::string text;
  size_t data_bytes = 0;
};

std::string Run(std::string_view body, size_t step, bool* ok, size_t* data_bytes) {
  Log log;
  kiln::envd::MultipartReader reader("b0undary", &log);
  *ok = true;
  for (size_t pos = 0; pos < body.size() && *ok; pos += step) *ok = reader.Feed(body.substr(pos, step)).ok();
  if (*ok) *ok = reader.Finish().ok();
  *data_bytes = log.data_bytes;
  return log.text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = data[0] % 97 + 1;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  bool whole_ok = false, split_ok = false;
  size_t whole_bytes = 0, split_bytes = 0;
  std::string whole = Run(body, body.size() + 1, &whole_ok, &whole_bytes);
  std::string split = Run(body, step, &split_ok, &split_bytes);
  if (whole_bytes > body.size() || split_bytes > body.size()) __builtin_trap();
  // Errors may come earlier or later in the stream, but two successes must agree exactly.
  if (whole_ok && split_ok && whole != split) __builtin_trap();
  if (whole_ok != split_ok) __builtin_trap();
  return 0;
}
