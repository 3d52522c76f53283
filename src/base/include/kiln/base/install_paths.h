// Where a running Kiln finds its own parts: helper programs (kiln-envd, kiln-kernel-bridge) and data
// (data sets, examples), whether it runs from a build tree or from an installed prefix.
//
// Installed layout (cmake --install, the Debian package): PREFIX/bin/kiln, PREFIX/libexec/kiln/<helpers>
// (kiln-commands among them), PREFIX/share/kiln/<data>. A build tree keeps helpers beside kiln (build/bin)
// and reads data from the source tree. KILN_* environment variables override each lookup. Thread-safe; no
// caching.
#pragma once

#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln {

// The directory of the running executable (from /proc/self/exe), or "" if unknown.
std::string SelfDir();

// The places searched for the helper `name`, in order: $`env_var` (when set), beside the executable, then
// ../libexec/kiln/ relative to it.
std::vector<std::string> HelperCandidates(const std::string& name, const char* env_var);

// The directory of Kiln's data: $KILN_DATA_DIR, else SelfDir()/../share/kiln or, for a helper in
// libexec/kiln, SelfDir()/../../share/kiln when it exists (installed),
// else the source tree's data directory this binary was built from.
std::string DataDir();

// DataDir()/relative if that file exists, else NotFound naming where it looked and KILN_DATA_DIR.
Result<std::string> DataFile(const std::string& relative);

// "0.1.0 (commit 1a2b3c4d5e6f)": the project version and the commit it was built from ("unknown" outside
// git, "-dirty" with uncommitted changes). Defined in the kiln_version library.
std::string VersionString();

}  // namespace kiln
