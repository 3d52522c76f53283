// Translation from Jupyter iopub/shell messages to the code interpreter's /execute items
// (/work/shared/docs/e2b-protocol.md §5.1), as the runner channel carries them to kiln-envd:
//
//   stream          -> {"type":"stdout"|"stderr","text"}
//   execute_result  -> {"type":"result","is_main_result":true,<formats>,"extra":{}}
//   display_data    -> the same with is_main_result false
//   error           -> {"type":"error","name":ename,"value":evalue,"traceback":<lines joined, no ANSI>}
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/kernel_bridge/wire.h"

namespace kiln::kernel_bridge {

// `text` without ANSI escape sequences (CSI such as colours and cursor moves, OSC, and two-byte escapes).
std::string StripAnsi(std::string_view text);

// A result item from a MIME bundle: text/plain -> text (surrounding matching quotes stripped, as E2B does),
// text/html -> html, text/markdown -> markdown, text/latex -> latex, image/svg+xml -> svg, image/png -> png,
// image/jpeg -> jpeg, application/pdf -> pdf (base64 as the kernel sent them), application/json -> json
// (an object; a JSON string is parsed), application/javascript -> javascript. Other types are dropped.
Json ResultItem(const Json& mime_bundle, bool is_main_result);

// An error item from the content of an `error` message or an error execute_reply.
Json ErrorItem(const Json& content);

// The item an iopub message contributes to the cell, if any (stream, execute_result, display_data, error).
std::optional<Json> ItemForIopub(const Message& message);

// Best-effort per-execution environment variables, as code run silently in the kernel before and after the
// cell: {set, restore}. Known for languages "python" and "r" (case-insensitive); nullopt for any other
// language or when `env_vars` is empty.
std::optional<std::pair<std::string, std::string>> EnvVarCode(
    std::string_view language, const std::vector<std::pair<std::string, std::string>>& env_vars);

}  // namespace kiln::kernel_bridge
