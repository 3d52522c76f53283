#include "kiln/kernel_bridge/kernelspec.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "kiln/base/fd.h"
#include "kiln/base/strings.h"

namespace kiln::kernel_bridge {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxKernelJsonBytes = 1u << 20;

class HostFs : public KernelSpecFs {
 public:
  std::vector<std::string> ListDirectories(const std::string& dir) const override {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<std::string> ReadSmallFile(const std::string& path) const override {
    // O_NONBLOCK: a FIFO planted as kernel.json must not hang the lookup.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return ErrnoStatus("open " + path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + path, errno);
    if (!S_ISREG(st.st_mode)) return InvalidArgument(path + " is not a regular file");
    if (static_cast<size_t>(st.st_size) > kMaxKernelJsonBytes) return InvalidArgument(path + " is too large");
    std::string out(static_cast<size_t>(st.st_size), '\0');
    ssize_t n = ::read(fd.get(), out.data(), out.size());
    if (n < 0) return ErrnoStatus("read " + path, errno);
    out.resize(static_cast<size_t>(n));
    return out;
  }
};

std::string Replace(std::string s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

Result<KernelSpec> Load(const std::string& dir, const std::string& name, const KernelSpecFs& fs) {
  std::string resource_dir = dir + "/" + name;
  KILN_ASSIGN_OR_RETURN(std::string text, fs.ReadSmallFile(resource_dir + "/kernel.json"));
  return ParseKernelSpec(text, name, resource_dir);
}

}  // namespace

const KernelSpecFs& HostKernelSpecFs() {
  static const HostFs* fs = new HostFs();
  return *fs;
}

std::vector<std::string> KernelSearchDirs(std::string_view jupyter_path, std::string_view home) {
  std::vector<std::string> dirs;
  for (std::string entry : Split(jupyter_path, ':')) {
    while (entry.size() > 1 && entry.back() == '/') entry.pop_back();
    if (!entry.empty()) dirs.push_back(entry + "/kernels");
  }
  if (!home.empty()) dirs.push_back(std::string(home) + "/.local/share/jupyter/kernels");
  dirs.push_back("/usr/local/share/jupyter/kernels");
  dirs.push_back("/usr/share/jupyter/kernels");
  return dirs;
}

Result<KernelSpec> ParseKernelSpec(std::string_view json, std::string name, std::string resource_dir) {
  Json j = Json::parse(json, nullptr, false);
  const std::string file = resource_dir + "/kernel.json";
  auto bad = [&file](const std::string& why) { return InvalidArgument(file + ": " + why); };
  if (!j.is_object()) return bad("not a JSON object");
  KernelSpec spec;
  spec.name = std::move(name);
  spec.resource_dir = std::move(resource_dir);
  const Json& argv = j.value("argv", Json());
  if (!argv.is_array() || argv.empty()) return bad("\"argv\" must be a non-empty list of strings");
  for (const Json& a : argv) {
    if (!a.is_string()) return bad("\"argv\" must be a non-empty list of strings");
    spec.argv.push_back(a.get<std::string>());
  }
  auto text = [&](const char* key, const char* fallback) {
    const Json& v = j.value(key, Json());
    return v.is_string() ? v.get<std::string>() : std::string(fallback);
  };
  spec.language = text("language", "");
  spec.display_name = text("display_name", "");
  spec.interrupt_mode = text("interrupt_mode", "signal");
  if (spec.interrupt_mode != "signal" && spec.interrupt_mode != "message")
    return bad("\"interrupt_mode\" must be \"signal\" or \"message\"");
  const Json& env = j.value("env", Json::object());
  if (env.is_object())
    for (const auto& [key, value] : env.items())
      if (value.is_string()) spec.env.emplace_back(key, value.get<std::string>());
  return spec;
}

Result<KernelSpec> FindKernelSpec(std::string_view language, const std::vector<std::string>& dirs,
                                  const KernelSpecFs& fs) {
  for (const std::string& dir : dirs)
    for (const std::string& name : fs.ListDirectories(dir))
      if (EqualsIgnoreCase(name, language)) {
        auto spec = Load(dir, name, fs);
        if (spec.ok()) return spec;
      }
  for (const std::string& dir : dirs)
    for (const std::string& name : fs.ListDirectories(dir)) {
      auto spec = Load(dir, name, fs);
      if (spec.ok() && EqualsIgnoreCase(spec->language, language)) return spec;
    }
  std::string searched;
  for (const std::string& dir : dirs) searched += (searched.empty() ? "" : ", ") + dir;
  // Optional kernels are not installed with Kiln (R's is hundreds of MB): say which package brings it.
  std::string hint = EqualsIgnoreCase(language, "r") || EqualsIgnoreCase(language, "ir")
                         ? "apt-get install r-cran-irkernel"
                         : "install the language's Jupyter kernel, or write <dir>/<name>/kernel.json";
  return NotFound("no Jupyter kernel for language '" + std::string(language) +
                  "': no kernelspec named so or with that \"language\" in " + searched + " (" + hint + ")");
}

std::vector<std::string> KernelCommand(const KernelSpec& spec, const std::string& connection_file) {
  std::vector<std::string> out;
  for (const std::string& arg : spec.argv)
    out.push_back(
        Replace(Replace(arg, "{connection_file}", connection_file), "{resource_dir}", spec.resource_dir));
  return out;
}

}  // namespace kiln::kernel_bridge
