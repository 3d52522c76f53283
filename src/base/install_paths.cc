#include "kiln/base/install_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#ifndef KILN_SOURCE_DATA_DIR
#define KILN_SOURCE_DATA_DIR ""
#endif

namespace kiln {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string SelfDir() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

std::vector<std::string> HelperCandidates(const std::string& name, const char* env_var) {
  std::vector<std::string> out;
  if (const char* env = env_var ? std::getenv(env_var) : nullptr; env && *env) out.push_back(env);
  if (std::string dir = SelfDir(); !dir.empty()) {
    out.push_back(dir + "/" + name);
    out.push_back(dir + "/../libexec/kiln/" + name);
  }
  return out;
}

std::string DataDir() {
  if (const char* env = std::getenv("KILN_DATA_DIR"); env && *env) return env;
  // bin/kiln looks in ../share, libexec/kiln/kiln-commands in ../../share.
  if (std::string dir = SelfDir(); !dir.empty()) {
    for (const char* up : {"/../share/kiln", "/../../share/kiln"})
      if (IsDirectory(dir + up)) return dir + up;
  }
  return KILN_SOURCE_DATA_DIR;
}

Result<std::string> DataFile(const std::string& relative) {
  std::string path = DataDir() + "/" + relative;
  if (access(path.c_str(), R_OK) == 0) return path;
  return NotFound("Kiln's data file " + relative + " is not in " + DataDir() +
                  " (set KILN_DATA_DIR to the directory that holds it)");
}

}  // namespace kiln
