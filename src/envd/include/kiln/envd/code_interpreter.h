// The code interpreter (E2B's port-49999 API, /work/shared/docs/e2b-protocol.md §5) served by envd on its
// own socket: stateful code contexts (see code_context.h) and their HTTP routes.
//
// Routes (added to envd's Router by AddRoutes):
//   POST /execute {code, context_id?, language?, env_vars?, timeout? (ms)} -> 200 NDJSON stream, one item
//     per line: number_of_executions, stdout/stderr, result, error, keepalive (every 5 s without items),
//     end_of_execution last. 400 (text) for context_id together with language, a missing code or an
//     unsupported language; 404 (text) for an unknown context or a language without a Jupyter kernelspec.
//     Requires X-Access-Token when envd has one.
//     A client that goes away interrupts the cell (SIGINT), as does `timeout`.
//   POST /contexts {language?, cwd?} -> {id, language, cwd}; GET /contexts -> [...] (the default python and
//   javascript contexts first); DELETE /contexts/{id} -> 204; POST /contexts/{id}/restart -> 204.
//   None requires a token. Unknown id -> 404 text.
// Languages: python; javascript (also js, typescript, ts: node, no type checking); bash; and, when
// EnvdConfig::kernel_bridge is set, any language with a Jupyter kernelspec in the sandbox (matched by the
// kernelspec's directory name or "language" field: "r" -> ir), run by kiln-kernel-bridge (kernel_bridge/).
// With EnvdConfig::preload_python (warm pools) the default python context's process starts at construction,
// in the background; otherwise every context's process starts on its first use, so sandboxes that only run
// commands do not pay for an idle interpreter.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/envd/code_context.h"
#include "kiln/envd/config.h"
#include "kiln/envd/paths.h"
#include "kiln/envd/router.h"

namespace kiln::envd {

// "js" -> "javascript", "ts" -> "typescript", "" -> "python" (lower-cased, trimmed).
std::string NormalizeLanguage(std::string_view language);

class CodeInterpreter {
 public:
  // `config`, `root` and `table` must outlive the interpreter.
  CodeInterpreter(const EnvdConfig* config, const RootFs* root, ProcessTable* table, CodeLimits limits = {});
  ~CodeInterpreter();

  void AddRoutes(Router& router);

  // NotFound for an unknown id.
  Result<std::shared_ptr<CodeContext>> Find(const std::string& id) const;
  // The default context of a normalised language (python, javascript, typescript, bash), made on first use.
  Result<std::shared_ptr<CodeContext>> Default(const std::string& language);
  // InvalidArgument for an unsupported language or a cwd that is not a directory; NotFound (naming the
  // directories searched) for a language that needs a kernelspec and has none.
  Result<std::shared_ptr<CodeContext>> Create(const std::string& language, const std::string& cwd);
  Status Remove(const std::string& id);

 private:
  Result<std::shared_ptr<CodeContext>> Make(const std::string& language, const std::string& cwd);
  void Execute(http::Request& request, http::ResponseWriter& writer);
  void CreateRoute(http::Request& request, http::ResponseWriter& writer);
  void ListRoute(http::ResponseWriter& writer);
  void ContextRoute(http::Request& request, http::ResponseWriter& writer);

  const EnvdConfig* config_;
  const RootFs* root_;
  ProcessTable* table_;
  const CodeLimits limits_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<CodeContext>> contexts_;  // creation order; defaults first
};

}  // namespace kiln::envd
