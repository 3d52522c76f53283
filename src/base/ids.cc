#include "kiln/base/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace kiln {

static void FillRandom(unsigned char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = getrandom(buf + done, n - done, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) std::abort();  // The kernel CSPRNG never fails after boot; continuing would weaken tokens.
    done += static_cast<size_t>(got);
  }
}

std::string RandomHex(size_t bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::vector<unsigned char> buf(bytes);
  FillRandom(buf.data(), bytes);
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : buf) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string RandomId(size_t length) {
  static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::vector<unsigned char> buf(length);
  FillRandom(buf.data(), length);
  std::string out;
  for (size_t i = 0; i < length; ++i) out.push_back(kAlnum[buf[i] % (i == 0 ? 26 : 36)]);
  return out;
}

bool HasRandomIdShape(std::string_view s, size_t length) {
  if (s.size() != length || length == 0 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace kiln
