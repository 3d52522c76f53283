#include "flat_json.h"

#include <cstdint>
#include <string>

namespace kiln::client {
namespace {

bool Hex4(std::string_view s, size_t i, uint32_t* value) {
  if (i + 4 > s.size()) return false;
  *value = 0;
  for (size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return false;
    *value = *value << 4 | static_cast<uint32_t>(digit);
  }
  return true;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A \uXXXX escape at s[*i] (after the backslash and 'u'), a surrogate pair taking two; false if invalid.
bool UnicodeEscape(std::string_view s, size_t* i, std::string* out) {
  uint32_t cp = 0, low = 0;
  if (!Hex4(s, *i, &cp)) return false;
  *i += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (s.substr(*i, 2) != "\\u" || !Hex4(s, *i + 2, &low) || low < 0xDC00 || low > 0xDFFF) return false;
    *i += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  AppendUtf8(out, cp);
  return true;
}

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), as nlohmann::json
// requires: bytes it would refuse must not enter a json value by the fast path, or dumping it later throws.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (length == 0 || i + length > s.size()) return false;
    unsigned char second = byte(i + 1);
    unsigned char low = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned char high = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (second < low || second > high) return false;
    for (size_t k = 2; k < length; ++k)
      if ((byte(i + k) & 0xC0) != 0x80) return false;
    i += length;
  }
  return true;
}

// Decodes the JSON string whose opening quote precedes s[*i]; leaves *i past the closing quote.
bool String(std::string_view s, size_t* i, std::string* out) {
  for (;;) {
    size_t run = *i;
    while (*i < s.size() && s[*i] != '"' && s[*i] != '\\' && static_cast<unsigned char>(s[*i]) >= 0x20) ++*i;
    std::string_view plain = s.substr(run, *i - run);
    if (!ValidUtf8(plain)) return false;
    out->append(plain);
    if (*i >= s.size() || static_cast<unsigned char>(s[*i]) < 0x20) return false;
    if (s[(*i)++] == '"') return true;
    if (*i >= s.size()) return false;
    char c = s[(*i)++];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (size_t k = kFrom.find(c); k != std::string_view::npos) {
      out->push_back(kTo[k]);
    } else if (c != 'u' || !UnicodeEscape(s, i, out)) {
      return false;
    }
  }
}

}  // namespace

bool ParseFlatStringObject(std::string_view text, nlohmann::json* out) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
  };
  auto eat = [&](char c) {
    skip_space();
    if (i >= text.size() || text[i] != c) return false;
    ++i;
    return true;
  };
  nlohmann::json object = nlohmann::json::object();
  if (!eat('{')) return false;
  if (!eat('}')) {
    do {
      std::string key, value;
      if (!eat('"') || !String(text, &i, &key) || !eat(':') || !eat('"') || !String(text, &i, &value))
        return false;
      object[key] = std::move(value);
    } while (eat(','));
    if (!eat('}')) return false;
  }
  skip_space();
  if (i != text.size()) return false;
  *out = std::move(object);
  return true;
}

}  // namespace kiln::client
