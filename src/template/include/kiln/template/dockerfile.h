// The Dockerfile subset `kiln template build` reads: a parsed, validated list of instructions.
//
// Supported: FROM (once, first; only ARG may precede it), RUN, COPY, ADD (local files), ENV, WORKDIR, USER,
// ARG, and Kiln's comment directives `# kiln: start-cmd CMD`, `# kiln: ready-cmd CMD`,
// `# kiln: ready-timeout SECONDS`, `# kiln: cpu-count N`,
// `# kiln: memory-mb N`, `# kiln: disk-mb N`, `# kiln: description TEXT` (for listings),
// `# kiln: code-context python` (the default Python code context starts with every sandbox). Lines continue
// with a trailing backslash; `#` starts a comment at the beginning of a line. Anything else (CMD, ENTRYPOINT,
// EXPOSE, a second FROM, an unknown directive) is an InvalidArgument naming FILE:LINE. Pure functions,
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::tmpl {

enum class Op { kFrom, kRun, kCopy, kAdd, kEnv, kWorkdir, kUser, kArg };
std::string_view OpName(Op op);

struct Instruction {
  Op op;
  int line = 0;      // 1-based line of the instruction's first line in the file
  std::string text;  // the instruction as written, continuations joined (for logs and the cache key)
  // RUN: argv (exec form, a JSON array) or {"/bin/sh", "-c", command} (shell form).
  // COPY/ADD: sources..., destination (last). FROM/WORKDIR/USER: one value. ENV/ARG: see `pairs`.
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> pairs;  // ENV k=v..., ARG name[=default]
  std::optional<std::string> chown;                        // COPY/ADD --chown=user|root
};

struct Dockerfile {
  std::string file;  // the name used in error messages
  // What FROM names, after ARG substitution: "host", "kiln:NAME", or a Debian suite ("bookworm",
  // "debian:bookworm", "debian:12").
  std::string from;
  int from_line = 0;
  std::vector<Instruction> steps;  // everything after FROM, in order (ARG included, for substitution)
  std::string start_cmd, ready_cmd;
  int start_cmd_line = 0;
  std::optional<int64_t> ready_timeout_s;
  std::optional<double> cpu_count;
  std::optional<int64_t> memory_mb, disk_mb;
  std::string description;
  bool python_context = false;
};

// Parses `text`; `file` names it in errors ("Dockerfile:7: CMD is not supported ..."). `build_args` override
// ARG defaults (--build-arg); an ARG without default or override expands to "".
Result<Dockerfile> ParseDockerfile(std::string_view text, const std::string& file,
                                   const std::map<std::string, std::string>& build_args = {});

// $NAME and ${NAME} in `word` replaced from `vars` (unknown: ""); `\$` is a literal `$`. For FROM, COPY,
// ADD, ENV, WORKDIR and USER (RUN's shell expands its own variables, from ENV and ARG).
std::string Substitute(std::string_view word, const std::map<std::string, std::string>& vars);

// A Debian suite for a FROM value ("bookworm", "debian:bookworm", "debian:12" -> "bookworm"), or nullopt.
std::optional<std::string> DebianSuite(std::string_view from);

}  // namespace kiln::tmpl
