// A fast path for the NDJSON items of /execute: most are stdout/stderr lines, a flat object of strings that
// can be megabytes long, which nlohmann::json parses a character at a time. Stateless; thread-safe.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace kiln::client {

// Parses `text` when it is a JSON object whose values are all strings ({"type":"stdout","text":"..."}) into
// *out and returns true. Returns false, leaving *out alone, for anything else (numbers, nested values,
// malformed input): the caller then uses nlohmann::json::parse, which decides.
bool ParseFlatStringObject(std::string_view text, nlohmann::json* out);

}  // namespace kiln::client
