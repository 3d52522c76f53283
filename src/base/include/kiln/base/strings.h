// Small string helpers shared by every module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln {

std::vector<std::string> Split(std::string_view s, char sep);
std::string_view Trim(std::string_view s);
std::string ToLower(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Standard base64 (RFC 4648 §4) with padding.
std::string Base64Encode(std::string_view data);
// Accepts standard and URL-safe alphabets, with or without padding. Fails on any other character.
bool Base64Decode(std::string_view in, std::string* out);
// Percent-decoding for URL components; '+' becomes a space only when `plus_is_space`.
bool UrlDecode(std::string_view in, std::string* out, bool plus_is_space = false);
std::string UrlEncode(std::string_view in);

}  // namespace kiln
