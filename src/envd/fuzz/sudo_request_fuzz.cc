// libFuzzer target: what reaches envd's sudo socket (the request JSON) and the shim's option parser. Checks
// the contract, not just crashes: an accepted request re-encodes to one that parses to the same request,
// and the command envd would build from it has a program and argv[0].
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/envd/sudo.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace kiln::envd;
  if (auto request = ParseSudoRequest(input); request.ok()) {
    auto again = ParseSudoRequest(EncodeSudoRequest(*request));
    Check(again.ok());
    if (again.ok()) {
      Check(again->invocation.command == request->invocation.command);
      Check(again->env.size() == request->env.size());
    }
    UserInfo root{"root", 0, 0, "/root", ""};
    SudoCommand cmd = BuildSudoCommand(*request, root, root);
    Check(!cmd.program.empty() && !cmd.argv.empty());
  }
  // The same bytes as NUL-separated sudo arguments.
  std::vector<std::string> args;
  for (size_t start = 0; start <= input.size();) {
    size_t end = input.find('\0', start);
    if (end == std::string_view::npos) end = input.size();
    args.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  if (auto inv = ParseSudoArgs(args); inv.ok() && inv->action == SudoInvocation::Action::kRun)
    Check(!inv->command.empty() || inv->login || inv->shell);
  return 0;
}
