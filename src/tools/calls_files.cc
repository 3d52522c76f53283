// Files in the session's sandbox: read_file, write_file, list_files; and the built-in dispatch.
#include <map>

#include "calls.h"
#include "kiln/base/strings.h"
#include "kiln/client/envd_client.h"

namespace kiln::tools {

ToolResult RunPythonCode(const CallContext& call);
ToolResult RunShell(const CallContext& call);
ToolResult RunInstall(const CallContext& call);

namespace {

using json = nlohmann::json;

constexpr int64_t kMaxReadBytes = 20 << 20;
constexpr size_t kMaxListedEntries = 1000;

std::string ImageType(std::string_view bytes) {
  if (bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "image/png";
  if (bytes.substr(0, 3) == "\xFF\xD8\xFF") return "image/jpeg";
  if (bytes.substr(0, 4) == "GIF8") return "image/gif";
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") return "image/webp";
  return "";
}

bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (extra == 9 || i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += extra + 1;
  }
  return true;
}

client::EnvdClient Envd(const CallContext& call) {
  client::EnvdClient envd(call.sandbox.socket_path, call.sandbox.access_token);
  envd.set_timeout_ms(static_cast<int>(call.tool.timeout_ms));
  return envd;
}

ToolResult ReadFile(const CallContext& call) {
  const std::string path = call.arguments.at("path").get<std::string>();
  client::EnvdClient envd = Envd(call);
  Result<client::EntryInfo> info = envd.Stat(path);
  if (!info.ok()) return ToolResult::Error("read_file: " + info.status().message());
  if (info->type == "FILE_TYPE_DIRECTORY")
    return ToolResult::Error("read_file: " + path + " is a directory (use list_files)");
  if (info->size > kMaxReadBytes)
    return ToolResult::Error(
        "read_file: " + path + " has " + std::to_string(info->size) +
        " bytes, more than read_file returns (20 MiB); look at part of it with run_shell");
  Result<std::string> bytes = envd.Read(path);
  if (!bytes.ok()) return ToolResult::Error("read_file: " + bytes.status().message());
  ToolResult result;
  if (std::string mime = ImageType(*bytes); !mime.empty()) {
    result.content.push_back({Content::Type::kImage, "", mime, Base64Encode(*bytes)});
  } else if (!IsUtf8(*bytes)) {
    result.content.push_back(
        {Content::Type::kText,
         path + ": a binary file of " + std::to_string(bytes->size()) + " bytes (not shown)", "", ""});
  } else {
    CappedText text(call.max_output_bytes);
    text.Append(*bytes);
    result.content.push_back({Content::Type::kText, text.Finish(), "", ""});
  }
  return result;
}

ToolResult WriteFile(const CallContext& call) {
  const std::string path = call.arguments.at("path").get<std::string>();
  const std::string& content = call.arguments.at("content").get_ref<const std::string&>();
  if (Status s = Envd(call).Write(path, content); !s.ok())
    return ToolResult::Error("write_file: " + s.message());
  return {{{Content::Type::kText, "wrote " + std::to_string(content.size()) + " bytes to " + path, "", ""}},
          false};
}

ToolResult ListFiles(const CallContext& call) {
  const std::string path = call.arguments.value("path", ".");
  int depth = call.arguments.value("depth", 1);
  Result<std::vector<client::EntryInfo>> entries = Envd(call).ListDir(path, depth);
  if (!entries.ok()) return ToolResult::Error("list_files: " + entries.status().message());
  std::string text;
  size_t shown = 0;
  for (const client::EntryInfo& e : *entries) {
    if (++shown > kMaxListedEntries) {
      text += "... and " + std::to_string(entries->size() - kMaxListedEntries) + " more entries\n";
      break;
    }
    bool dir = e.type == "FILE_TYPE_DIRECTORY";
    text += std::string(dir ? "dir  " : "file ") + (dir ? "" : std::to_string(e.size) + " ") + e.path +
            (dir ? "/" : "") + "\n";
  }
  if (text.empty()) text = path + " is empty\n";
  return {{{Content::Type::kText, text, "", ""}}, false};
}

}  // namespace

void CappedText::Append(std::string_view bytes) {
  size_t room = kept_.size() < cap_ ? cap_ - kept_.size() : 0;
  kept_.append(bytes.substr(0, room));
  dropped_ += bytes.size() > room ? bytes.size() - room : 0;
}

std::string CappedText::Finish() const {
  if (dropped_ == 0) return kept_;
  return kept_ + "\n[... " + std::to_string(dropped_) + " more bytes cut: the output was longer than " +
         std::to_string(cap_) + " bytes]";
}

std::string StoppedByTheUser(const ToolDef& tool, const std::string& what) {
  return tool.name + ": stopped by the user (Ctrl-C) before it finished: " + what +
         ". Do not run it again unless the user asks.";
}

ToolResult RunBuiltin(const CallContext& call) {
  using Impl = ToolResult (*)(const CallContext&);
  static const std::map<std::string, Impl, std::less<>> kImpls = {
      {"run_python", RunPythonCode}, {"run_shell", RunShell},   {"read_file", ReadFile},
      {"write_file", WriteFile},     {"list_files", ListFiles}, {"install_packages", RunInstall},
  };
  auto it = kImpls.find(call.tool.builtin);
  if (it == kImpls.end()) return ToolResult::Error("no built-in named " + call.tool.builtin);
  return it->second(call);
}

}  // namespace kiln::tools
