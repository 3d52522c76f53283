// Serialising JSON that may hold bytes from outside: a client's header or path, a program's output, a file
// name. nlohmann::json::dump() throws on a string that is not valid UTF-8, and an exception from a reply or
// a log line kills whatever thread writes it; these never throw, and write each invalid byte as U+FFFD.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace kiln {

// `indent` as for nlohmann::json::dump (-1: one line).
std::string DumpJson(const nlohmann::json& value, int indent = -1);

}  // namespace kiln
