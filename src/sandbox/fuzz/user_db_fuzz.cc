// Fuzz target: a template's /etc/passwd and /etc/group (written by code in a build sandbox) merged with
// Kiln's accounts. Must never crash; the result has exactly one `user` entry, Kiln's, as its last line,
// and merging the result again changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "kiln/sandbox/user_db.h"

namespace {

int UserEntries(const std::string& text) {
  int n = 0;
  for (size_t p = 0; p < text.size(); p = text.find('\n', p) + 1) {
    if (text.compare(p, 5, "user:") == 0) ++n;
    if (text.find('\n', p) == std::string::npos) break;
  }
  return n;
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  kiln::sandbox::UserDbIds ids;
  ids.with_root = size % 2 == 0;
  std::string passwd = kiln::sandbox::MergePasswd(input, ids);
  std::string group = kiln::sandbox::MergeGroup(input, ids);
  KILN_FUZZ_CHECK(UserEntries(passwd) == 1 && EndsWith(passwd, "\nuser:x:1000:1000::/home/user:/bin/bash\n"));
  KILN_FUZZ_CHECK(UserEntries(group) == 1 && EndsWith(group, "\nuser:x:1000:\n"));
  KILN_FUZZ_CHECK(kiln::sandbox::MergePasswd(passwd, ids) == passwd);
  KILN_FUZZ_CHECK(kiln::sandbox::MergeGroup(group, ids) == group);
  return 0;
}
