// `kiln template build`: a template from a Dockerfile subset (dockerfile.h) into the store (store.h).
//
// The base comes from FROM: `host` (an empty root that sandboxes lay over the host's /usr), a Debian
// release (bootstrapped with mmdebstrap from the machine's apt mirror: $KILN_APT_MIRROR, else the first
// Debian URI of /etc/apt/sources.list{,.d}), or `kiln:NAME` (a copy of that template's root). Each RUN,
// COPY, ADD and WORKDIR makes a layer: an overlay upper directory over the layers below it, cached in the
// store under a content hash of the parent layer, the instruction, the ENV/WORKDIR/USER state and (COPY,
// ADD) the copied files' names, modes and bytes; a rebuild with unchanged steps reuses them ("CACHED" in
// the log). RUN executes in a sandbox (runtime::Run) as root (or USER) whose root is the layer stack,
// writable; /home/user and /tmp are the sandbox's own tmpfs, and Kiln's generated /etc files (hosts,
// hostname, resolv.conf) are not kept. A Debian root keeps its own passwd and group (system users and
// groups) with Kiln's `user` added, in its build steps and in sandboxes made from it. The finished root is
// flattened into one immutable directory. Needs root on the host (overlay mounts). One build at a time per
// store.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/template/store.h"

namespace kiln::tmpl {

struct BuildRequest {
  std::string name;
  std::string dockerfile;  // path of the file
  std::string context;     // COPY/ADD sources are relative to it; empty: the Dockerfile's directory
  std::string home;        // Kiln's home; empty: $KILN_HOME or ~/.kiln
  std::map<std::string, std::string> build_args;
  bool network = false;   // RUN steps may reach the network (apt-get, pip)
  bool no_cache = false;  // rebuild every layer
  int64_t step_timeout_ms = 30 * 60 * 1000;
  // Progress for people: one call per line ("[2/5] Dockerfile:3 RUN ...", "  | output", "  CACHED").
  std::function<void(std::string_view line)> progress;
};

// The installed template. Errors: InvalidArgument for a bad Dockerfile or name (FILE:LINE), NotFound for a
// missing file, context or FROM kiln: template, Internal "FILE:LINE: RUN ... failed (exit N)" with the
// step's output for a failing step, FailedPrecondition without root or mmdebstrap.
Result<TemplateInfo> BuildTemplate(const BuildRequest& request);

}  // namespace kiln::tmpl
