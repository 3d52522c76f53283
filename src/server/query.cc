#include "query.h"

#include <ctime>

#include "kiln/base/strings.h"

namespace kiln::server {
namespace {

// Splits "a=b&c=d" into decoded pairs; `plus_is_space` for form encoding.
Result<std::vector<std::pair<std::string, std::string>>> ParsePairs(const std::string& text,
                                                                    bool plus_is_space) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& item : Split(text, '&')) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string key, value;
    if (!UrlDecode(item.substr(0, eq), &key, plus_is_space) ||
        (eq != std::string::npos && !UrlDecode(item.substr(eq + 1), &value, plus_is_space)))
      return InvalidArgument("bad percent-encoding in '" + item + "'");
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

int Digits(const std::string& s, size_t at, size_t n) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

Result<Target> ParseTarget(const std::string& target) {
  size_t q = target.find('?');
  Target out;
  if (!UrlDecode(target.substr(0, q), &out.path)) return InvalidArgument("bad percent-encoding in the path");
  if (q == std::string::npos) return out;
  KILN_ASSIGN_OR_RETURN(auto pairs, ParsePairs(target.substr(q + 1), /*plus_is_space=*/true));
  for (auto& [key, value] : pairs) out.query[key] = std::move(value);
  return out;
}

Result<std::map<std::string, std::string>> DecodeMetadataFilter(const std::string& value) {
  KILN_ASSIGN_OR_RETURN(auto pairs, ParsePairs(value, /*plus_is_space=*/true));
  std::map<std::string, std::string> filter;
  for (auto& [key, val] : pairs) {
    std::string k, v;
    if (!UrlDecode(key, &k) || !UrlDecode(val, &v))
      return InvalidArgument("metadata: bad percent-encoding in '" + key + "'");
    filter[k] = v;
  }
  return filter;
}

Result<int64_t> ParseRfc3339Millis(const std::string& s) {
  Status bad = InvalidArgument("'" + s + "' is not an RFC 3339 date-time");
  std::tm tm{};
  tm.tm_year = Digits(s, 0, 4) - 1900;
  tm.tm_mon = Digits(s, 5, 2) - 1;
  tm.tm_mday = Digits(s, 8, 2);
  tm.tm_hour = Digits(s, 11, 2);
  tm.tm_min = Digits(s, 14, 2);
  tm.tm_sec = Digits(s, 17, 2);
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':' || tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_hour < 0 ||
      tm.tm_min < 0 || tm.tm_sec < 0)
    return bad;
  size_t i = 19;
  int64_t millis = 0, scale = 100;
  if (s[i] == '.') {
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) millis += (s[i] - '0') * scale;
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-') && i + 6 == s.size() && s[i + 3] == ':') {
    int h = Digits(s, i + 1, 2), m = Digits(s, i + 4, 2);
    if (h < 0 || m < 0) return bad;
    offset_s = (s[i] == '+' ? 1 : -1) * (h * 3600 + m * 60);
  } else if (!(i + 1 == s.size() && (s[i] == 'Z' || s[i] == 'z'))) {
    return bad;
  }
  return (static_cast<int64_t>(timegm(&tm)) - offset_s) * 1000 + millis;
}

std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> segments;
  for (std::string& s : Split(path, '/'))
    if (!s.empty()) segments.push_back(std::move(s));
  return segments;
}

}  // namespace kiln::server
