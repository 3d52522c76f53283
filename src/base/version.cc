#include "kiln/base/install_paths.h"
#include "version_info.h"

namespace kiln {

std::string VersionString() {
  return std::string(kKilnVersion) + " (commit " + kKilnCommit + ")";
}

}  // namespace kiln
