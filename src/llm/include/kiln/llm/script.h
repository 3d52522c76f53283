// The scripted model "script:FILE": replays responses from a file in order, for offline demos and tests.
//
// It reports provider name "script" and model "script:FILE" everywhere, so its output is never mistaken for
// a real model's. The file is read once, when the provider is made. Two formats, chosen by the first
// non-blank character of the file:
//
// 1. JSON Lines (first character '{'): one response per line; blank lines and lines starting with '#' are
//    skipped. Fields (all optional):
//      {"text": "Hello", "tool_calls": [{"id": "c1", "name": "run", "arguments": {"cmd": "ls"}}],
//       "usage": {"input_tokens": 10, "output_tokens": 5}, "finish_reason": "stop"}
//    "arguments" may be an object or a JSON string. finish_reason defaults to "tool_calls" when there are
//    tool calls, else "stop".
// 2. Plain text: responses separated by lines that are exactly "--- response ---"; text before the first
//    separator is the first response if non-blank. Each response's text is trimmed of surrounding newlines.
//
// Calling past the last response fails with kResourceExhausted ("script:FILE: all N scripted responses
// used"). Thread-safe: concurrent calls take successive responses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kiln/llm/provider.h"

namespace kiln::llm {

// Parses script text (either format). kInvalidArgument names the bad line.
Result<std::vector<ChatResponse>> ParseScript(std::string_view text);

// Reads and parses `path`. kNotFound if unreadable. The first call answers with response `first_response`
// (0-based): a workflow thread resumed in a new process continues the script where the earlier one stopped.
Result<std::unique_ptr<Provider>> MakeScriptProvider(const std::string& path, size_t first_response = 0);

}  // namespace kiln::llm
