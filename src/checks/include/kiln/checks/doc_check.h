// Doc checks: runs the snippets of one document (see snippets.h) in order and judges each.
//
// A snippet fails when it raises (python, javascript), when a bash block's command fails (any command of the
// block that exits non-zero, as an ERR trap sees it: the error `ExitStatus`), when it outlives its time
// limit (TimeoutError), when the sandbox goes away, or when what it printed (stdout, then the text of the
// cell's value for python and javascript) differs from its expected output. expect-error inverts the
// first rule. Stderr is shown on failure but never compared. A snippet whose language the sandbox cannot run
// (no node) is skipped, saying why.
//
// The snippets of one document share one executor: one context per language, in document order, so that a
// later block sees what an earlier one defined; `new-context` starts a fresh one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/checks/report.h"
#include "kiln/checks/snippets.h"
#include "kiln/client/code_client.h"

namespace kiln::runtime {
class Runtime;
}

namespace kiln::checks {

// Where one document's snippets run. Used from one thread at a time.
class SnippetExecutor {
 public:
  virtual ~SnippetExecutor() = default;
  // Runs `code` in the current context of `language` ("python", "bash", "javascript"). `timeout_ms` > 0.
  // A cell that raised is a success with Execution::error set; a failure means the code did not run to
  // the end (the sandbox could not start or died, the call's deadline passed).
  virtual Result<client::Execution> Execute(const std::string& language, const std::string& code,
                                            int64_t timeout_ms) = 0;
  // Later Execute calls for `language` go to a fresh context.
  virtual Status NewContext(const std::string& language) = 0;
  // "" when `language` can run here, else why not.
  virtual std::string Unavailable(const std::string& language) = 0;
};

// A fresh sandbox (default limits, no network), created on the first Execute and killed with the executor;
// python runs in its default context, bash and javascript in contexts created on first use. `runtime` must
// outlive the executor.
std::unique_ptr<SnippetExecutor> NewSandboxExecutor(runtime::Runtime* runtime);

struct CheckOptions {
  int64_t default_timeout_ms = 30'000;  // per snippet, unless its directive says otherwise
};

// One CaseResult per snippet, in document order (suite and file: doc.path).
std::vector<CaseResult> CheckDocument(const Document& doc, SnippetExecutor& executor,
                                      const CheckOptions& options);

// Reads PATH and parses it by its extension (.md/.markdown/.mdx as Markdown, .py as Python);
// InvalidArgument for another extension, NotFound when it cannot be read.
Result<Document> LoadDocument(const std::string& path);

// The files `kiln check-docs` checks for the given paths: files as given, directories searched (sorted)
// for *.md, *.markdown and *.py, skipping hidden directories, build/ and node_modules/.
Result<std::vector<std::string>> ExpandPaths(const std::vector<std::string>& paths);

}  // namespace kiln::checks
