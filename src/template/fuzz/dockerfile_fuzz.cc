// Fuzz target: the Dockerfile-subset parser of `kiln template build` (a file the user, or an agent, wrote).
// Beyond not crashing: every error names a line of the input, every step's line is within it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kiln/template/dockerfile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  int lines = 1;
  for (char c : text) lines += c == '\n';
  kiln::Result<kiln::tmpl::Dockerfile> d = kiln::tmpl::ParseDockerfile(text, "F", {{"A", "x"}});
  if (!d.ok()) {
    if (d.status().message().rfind("F:", 0) != 0) std::abort();
    return 0;
  }
  if (d->from_line < 1 || d->from_line > lines) std::abort();
  for (const kiln::tmpl::Instruction& in : d->steps) {
    if (in.line < 1 || in.line > lines) std::abort();
    if ((in.op == kiln::tmpl::Op::kCopy || in.op == kiln::tmpl::Op::kAdd) && in.args.size() < 2) std::abort();
    if (in.op == kiln::tmpl::Op::kRun && in.args.empty()) std::abort();
  }
  return 0;
}
