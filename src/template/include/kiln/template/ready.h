// E2B's start and ready commands for a sandbox made from a template.
//
// The start command runs in the background (its own session, detached from the call that starts it) as the
// sandbox's default user in its default directory, through `bash -l -c` as E2B's SDK runs commands; its
// output goes to kStartCommandLog inside the sandbox. The ready command is then run the same way, again and
// again, until it exits 0; the sandbox is ready then. Without a ready command the sandbox is ready once the
// start command is launched. Used by `kiln serve` (a create returns only when the sandbox is ready).
#pragma once

#include <cstdint>

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

}  // namespace kiln::tmpl
