// E2B's start and ready commands for a sandbox made from a template.
//
// The start command runs in the background (its own session, detached from the call that starts it) as the
// sandbox's default user in its default directory, through `bash -l -c` as E2B's SDK runs commands; its
// output goes to kStartCommandLog inside the sandbox. The ready command is then run the same way, again and
// again, until it exits 0; the sandbox is ready then. Without a ready command the sandbox is ready once the
// start command is launched. Used by `kiln serve` (a create returns only when the sandbox is ready).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/template/store.h"

namespace kiln::client {
class EnvdClient;
}

namespace kiln::tmpl {

inline constexpr char kStartCommandLog[] = "/tmp/kiln-start-cmd.log";

// Does nothing for a template without a start command. DeadlineExceeded when the ready command has not
// exited 0 within `info.ready_timeout_s`, naming the template and the ready command, with the last attempt's
// exit code and output and the end of the start command's log. Errors of envd itself (the sandbox died)
// come back as they are, prefixed with the template's name.
Status StartAndAwaitReady(const TemplateInfo& info, const client::EnvdClient& envd);

// The same for a sandbox that runs one program without envd (`kiln run --template`): `argv` wrapped in a
// bash script that launches the start command as above, runs the ready command (each attempt at most 10 s)
// until it exits 0, then execs `argv`, all as the program's user. Not ready within `info.ready_timeout_s`:
// the script exits kNotReadyExitCode with a message like StartAndAwaitReady's on stderr, and `argv` never
// runs. Without a start command, `argv` unchanged.
inline constexpr int kNotReadyExitCode = 125;
std::vector<std::string> WithStartAndReady(const TemplateInfo& info, std::vector<std::string> argv);

}  // namespace kiln::tmpl
