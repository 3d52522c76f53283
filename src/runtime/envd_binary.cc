#include "kiln/runtime/envd_binary.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "kiln/base/install_paths.h"

namespace kiln::runtime {
namespace {

struct Located {
  int fd = -1;
  std::string path;
  Status error;
};

const Located& Locate() {
  static std::once_flag once;
  static Located* located = new Located();
  std::call_once(once, [] {
    std::vector<std::string> candidates = HelperCandidates("kiln-envd", "KILN_ENVD");
    std::string searched;
    for (const std::string& path : candidates) {
      int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
      if (fd >= 0 && access(path.c_str(), X_OK) == 0) {
        located->fd = fd;
        located->path = path;
        return;
      }
      if (fd >= 0) close(fd);
      searched += (searched.empty() ? "" : ", ") + path;
    }
    located->error =
        NotFound("kiln-envd not found (looked in: " + searched + "); build it, or set KILN_ENVD to its path");
  });
  return *located;
}

}  // namespace

std::optional<std::string> KernelBridgeBinaryPath() {
  static const std::optional<std::string>* found = [] {
    std::vector<std::string> candidates = HelperCandidates("kiln-kernel-bridge", "KILN_KERNEL_BRIDGE");
    Result<std::string> envd = EnvdBinaryPath();  // a KILN_ENVD elsewhere may have the bridge beside it
    if (envd.ok())
      candidates.insert(candidates.begin() + (std::getenv("KILN_KERNEL_BRIDGE") ? 1 : 0),
                        envd->substr(0, envd->rfind('/') + 1) + "kiln-kernel-bridge");
    for (const std::string& path : candidates)
      if (!path.empty() && path[0] == '/' && access(path.c_str(), X_OK) == 0)
        return new std::optional<std::string>(path);
    return new std::optional<std::string>();
  }();
  return *found;
}

Result<int> EnvdBinaryFd() {
  const Located& l = Locate();
  if (l.fd < 0) return l.error;
  return l.fd;
}

Result<std::string> EnvdBinaryPath() {
  const Located& l = Locate();
  if (l.fd < 0) return l.error;
  return l.path;
}

}  // namespace kiln::runtime
