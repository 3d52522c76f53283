// Command templates of registry tools: "{{name}}" placeholders (spaces inside the braces allowed).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::tools {

// Calls `on_placeholder` for each placeholder's name in order; InvalidArgument for an unterminated "{{"
// or an empty name. `on_placeholder` may return an error to stop.
Status ForEachPlaceholder(std::string_view text,
                          const std::function<Status(const std::string&)>& on_placeholder);

// Replaces each placeholder by the argument of that name: strings as they are, other JSON values as JSON
// text; a missing argument by the property's `default` from `parameters`, else "". With `shell_quote`,
// each replacement is single-quoted for /bin/sh.
Result<std::string> RenderTemplate(std::string_view text, const nlohmann::json& arguments,
                                   const nlohmann::json& parameters, bool shell_quote);

// 'text' for /bin/sh, with embedded single quotes closed, escaped and reopened.
std::string ShellQuote(std::string_view text);

}  // namespace kiln::tools
