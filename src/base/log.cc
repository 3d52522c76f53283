#include "kiln/base/log.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "kiln/base/strings.h"

namespace kiln::log {

static Level ConfiguredLevel() {
  static const Level level = [] {
    const char* env = std::getenv("KILN_LOG");
    std::string v = env ? ToLower(env) : "";
    if (v == "error") return Level::kError;
    if (v == "info") return Level::kInfo;
    if (v == "debug") return Level::kDebug;
    return Level::kWarn;
  }();
  return level;
}

bool Enabled(Level level) {
  return static_cast<int>(level) <= static_cast<int>(ConfiguredLevel());
}

void Write(Level level, std::string_view message) {
  if (!Enabled(level)) return;
  static const char* kNames[] = {"error", "warn", "info", "debug"};
  std::string line = "kiln ";
  line += kNames[static_cast<int>(level)];
  line += ": ";
  line += message;
  line += '\n';
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace kiln::log
