// Finds the kiln-envd binary that every sandbox runs as its init.
#pragma once

#include <string>

#include "kiln/base/status.h"

namespace kiln::runtime {

// An O_PATH fd of kiln-envd, opened once per process and kept open (thread-safe). Looked up in $KILN_ENVD,
// then next to the running executable, then in ../libexec/kiln/. NotFound names the places searched.
Result<int> EnvdBinaryFd();
// The path that EnvdBinaryFd() opened.
Result<std::string> EnvdBinaryPath();

}  // namespace kiln::runtime
