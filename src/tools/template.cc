#include "template.h"

#include "kiln/base/strings.h"

namespace kiln::tools {

using json = nlohmann::json;

Status ForEachPlaceholder(std::string_view text,
                          const std::function<Status(const std::string&)>& on_placeholder) {
  size_t at = 0;
  while ((at = text.find("{{", at)) != std::string_view::npos) {
    size_t end = text.find("}}", at + 2);
    if (end == std::string_view::npos)
      return InvalidArgument("'{{' at offset " + std::to_string(at) + " is not closed by '}}'");
    std::string name(Trim(text.substr(at + 2, end - at - 2)));
    if (name.empty()) return InvalidArgument("empty placeholder '{{}}' at offset " + std::to_string(at));
    KILN_RETURN_IF_ERROR(on_placeholder(name));
    at = end + 2;
  }
  return Status::Ok();
}

std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

Result<std::string> RenderTemplate(std::string_view text, const json& arguments, const json& parameters,
                                   bool shell_quote) {
  std::string out;
  size_t copied = 0;
  size_t at = 0;
  while ((at = text.find("{{", at)) != std::string_view::npos) {
    size_t end = text.find("}}", at + 2);
    if (end == std::string_view::npos) return InvalidArgument("unterminated '{{' in the command template");
    std::string name(Trim(text.substr(at + 2, end - at - 2)));
    const json* value = nullptr;
    if (auto it = arguments.find(name); it != arguments.end()) {
      value = &*it;
    } else if (auto props = parameters.find("properties"); props != parameters.end()) {
      if (auto p = props->find(name); p != props->end() && p->contains("default")) value = &(*p)["default"];
    }
    std::string replacement;
    if (value != nullptr)
      replacement = value->is_string() ? value->get<std::string>()
                                       : value->dump(-1, ' ', false, json::error_handler_t::replace);
    out.append(text.substr(copied, at - copied));
    out += shell_quote ? ShellQuote(replacement) : replacement;
    at = copied = end + 2;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace kiln::tools
