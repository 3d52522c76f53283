#include "kiln/kernel_bridge/items.h"

#include <array>

#include "kiln/base/strings.h"

namespace kiln::kernel_bridge {
namespace {

struct MimeFormat {
  const char* mime;
  const char* format;
};

constexpr std::array<MimeFormat, 10> kMimeFormats = {{
    {"text/plain", "text"},
    {"text/html", "html"},
    {"text/markdown", "markdown"},
    {"text/latex", "latex"},
    {"image/svg+xml", "svg"},
    {"image/png", "png"},
    {"image/jpeg", "jpeg"},
    {"application/pdf", "pdf"},
    {"application/json", "json"},
    {"application/javascript", "javascript"},
}};

// Kernels may split text values into a list of lines (nbformat style); join them.
std::string TextOf(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  std::string out;
  if (value.is_array())
    for (const Json& line : value)
      if (line.is_string()) out += line.get<std::string>();
  return out;
}

std::string StripQuotes(std::string text) {
  if (text.size() >= 2 && text.front() == text.back() && (text.front() == '\'' || text.front() == '"'))
    return text.substr(1, text.size() - 2);
  return text;
}

std::string JsonStringLiteral(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string StripAnsi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\x1b') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size()) break;
    char kind = text[++i];
    if (kind == '[') {  // CSI: parameters and intermediates, then one final byte in @..~
      while (i + 1 < text.size() && !(text[i + 1] >= '@' && text[i + 1] <= '~')) ++i;
      ++i;
    } else if (kind == ']') {  // OSC: up to BEL or ESC '\'
      while (i + 1 < text.size() && text[i + 1] != '\a' && text[i + 1] != '\x1b') ++i;
      ++i;
      if (i < text.size() && text[i] == '\x1b') ++i;
    }  // else: a two-byte escape, already consumed
  }
  return out;
}

Json ResultItem(const Json& mime_bundle, bool is_main_result) {
  Json item = {{"type", "result"}};
  if (mime_bundle.is_object()) {
    for (const MimeFormat& m : kMimeFormats) {
      auto it = mime_bundle.find(m.mime);
      if (it == mime_bundle.end()) continue;
      std::string format = m.format;
      if (format == "json") {
        item[format] = it->is_string() ? Json::parse(it->get<std::string>(), nullptr, false) : *it;
        if (item[format].is_discarded()) item[format] = *it;
      } else if (format == "text") {
        item[format] = StripQuotes(TextOf(*it));
      } else {
        item[format] = TextOf(*it);
      }
    }
  }
  item["is_main_result"] = is_main_result;
  item["extra"] = Json::object();
  return item;
}

Json ErrorItem(const Json& content) {
  std::string traceback;
  const Json& lines = content.value("traceback", Json::array());
  if (lines.is_array())
    for (const Json& line : lines)
      if (line.is_string()) traceback += (traceback.empty() ? "" : "\n") + line.get<std::string>();
  auto text = [&](const char* key) {
    const Json& v = content.value(key, Json());
    return v.is_string() ? StripAnsi(v.get<std::string>()) : std::string();
  };
  return {{"type", "error"},
          {"name", text("ename")},
          {"value", text("evalue")},
          {"traceback", StripAnsi(traceback)}};
}

std::optional<Json> ItemForIopub(const Message& message) {
  const std::string type = message.type();
  const Json& c = message.content;
  if (type == "stream") {
    std::string stream = c.value("name", "stdout") == "stderr" ? "stderr" : "stdout";
    return Json{{"type", stream}, {"text", TextOf(c.value("text", Json()))}};
  }
  if (type == "execute_result" || type == "display_data")
    return ResultItem(c.value("data", Json::object()), type == "execute_result");
  if (type == "error") return ErrorItem(c);
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> EnvVarCode(
    std::string_view language, const std::vector<std::pair<std::string, std::string>>& env_vars) {
  if (env_vars.empty()) return std::nullopt;
  std::string lang = ToLower(language);
  if (lang == "python") {
    Json dict = Json::object();
    for (const auto& [k, v] : env_vars) dict[k] = v;
    // Runs in lambdas so the user's namespace is untouched; the saved values live on builtins.
    std::string set =
        "(lambda os, b, d: (setattr(b, '_kiln_saved_env', {k: os.environ.get(k) for k in d}), "
        "os.environ.update(d)))(__import__('os'), __import__('builtins'), " +
        dict.dump(-1, ' ', false, Json::error_handler_t::replace) + ")";
    std::string restore =
        "(lambda os, b: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v) "
        "for k, v in b.__dict__.pop('_kiln_saved_env', {}).items()])(__import__('os'), "
        "__import__('builtins'))";
    return std::make_pair(set, restore);
  }
  if (lang == "r") {
    std::string pairs;
    for (const auto& [k, v] : env_vars)
      pairs += (pairs.empty() ? "" : ", ") + JsonStringLiteral(k) + " = " + JsonStringLiteral(v);
    std::string set = "local({ d <- c(" + pairs +
                      "); options(kiln.saved.env = Sys.getenv(names(d), unset = NA, names = TRUE)); "
                      "invisible(do.call(Sys.setenv, as.list(d))) })";
    std::string restore =
        "local({ old <- getOption('kiln.saved.env'); for (k in names(old)) if (is.na(old[[k]])) "
        "Sys.unsetenv(k) else do.call(Sys.setenv, setNames(list(old[[k]]), k)); "
        "options(kiln.saved.env = NULL); invisible(NULL) })";
    return std::make_pair(set, restore);
  }
  return std::nullopt;
}

}  // namespace kiln::kernel_bridge
