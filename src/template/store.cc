#include "kiln/template/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kiln/base/strings.h"

namespace kiln::tmpl {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

std::string DefaultHome() {
  const char* home = std::getenv("KILN_HOME");
  if (home && *home) return home;
  const char* user_home = std::getenv("HOME");
  return std::string(user_home && *user_home ? user_home : "/root") + "/.kiln";
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Top-level entries of a template root that a sandbox never takes from it: its own /dev, /proc and /tmp,
// and /home (the home is a tmpfs seeded from the template's /home/user).
bool SandboxOwnsTopLevel(const std::string& name) {
  return name == "dev" || name == "proc" || name == "sys" || name == "tmp" || name == "home";
}

// What the host supplies to a FROM host template (SandboxSpec::DefaultSystemMounts).
bool HostSupplies(const std::string& name) {
  return name == "usr" || name == "bin" || name == "sbin" || StartsWith(name, "lib");
}

constexpr int64_t kMaxSeededHomeBytes = 64ll << 20;

Status SeedHome(const std::string& root, sandbox::SandboxSpec& spec) {
  std::string home = root + sandbox::kSandboxHome;
  std::error_code ec;
  if (!fs::is_directory(home, ec)) return Status::Ok();
  int64_t total = 0, limit = std::min(kMaxSeededHomeBytes, spec.limits.tmpfs_home_bytes / 2);
  for (auto it = fs::recursive_directory_iterator(home, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    total += static_cast<int64_t>(it->file_size(ec));
    if (total > limit)
      return ResourceExhausted("the template's /home/user holds more than " + std::to_string(limit >> 20) +
                               " MiB; put large files elsewhere (/opt, /srv)");
    KILN_ASSIGN_OR_RETURN(std::string content, ReadText(it->path().string()));
    spec.files[std::string(sandbox::kSandboxHome) + "/" + fs::relative(it->path(), home).string()] =
        std::move(content);
  }
  if (ec) return ErrnoStatus("reading " + home, ec.value());
  return Status::Ok();
}

}  // namespace

std::string TemplateInfoToJson(const TemplateInfo& t) {
  Json j = {{"format", kTemplateFormat},
            {"name", t.name},
            {"base", t.base},
            {"from", t.from},
            {"cpu_count", t.cpu_count},
            {"memory_mb", t.memory_mb},
            {"disk_mb", t.disk_mb},
            {"env", t.env},
            {"workdir", t.workdir},
            {"user", t.user},
            {"start_cmd", t.start_cmd},
            {"ready_cmd", t.ready_cmd},
            {"ready_timeout_s", t.ready_timeout_s},
            {"description", t.description},
            {"python_context", t.python_context},
            {"envd_version", t.envd_version},
            {"created_ms", t.created_ms},
            {"size_bytes", t.size_bytes},
            {"layers", t.layers}};
  return j.dump(2) + "\n";
}

Result<TemplateInfo> TemplateInfoFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("template.json: not a JSON object");
  if (j.value("format", 0) != kTemplateFormat)
    return InvalidArgument("template.json: format " + j.value("format", Json(0)).dump() + ", expected " +
                           std::to_string(kTemplateFormat));
  TemplateInfo t;
  try {
    t.name = j.at("name").get<std::string>();
    t.base = j.at("base").get<std::string>();
    t.from = j.value("from", "");
    t.cpu_count = j.value("cpu_count", 1.0);
    t.memory_mb = j.value("memory_mb", int64_t{512});
    t.disk_mb = j.value("disk_mb", int64_t{512});
    t.env = j.value("env", std::map<std::string, std::string>{});
    t.workdir = j.value("workdir", "/home/user");
    t.user = j.value("user", "user");
    t.start_cmd = j.value("start_cmd", "");
    t.ready_cmd = j.value("ready_cmd", "");
    t.ready_timeout_s = j.value("ready_timeout_s", int64_t{60});
    t.description = j.value("description", "");
    t.python_context = j.value("python_context", false);
    t.envd_version = j.value("envd_version", "");
    t.created_ms = j.value("created_ms", int64_t{0});
    t.size_bytes = j.value("size_bytes", int64_t{0});
    t.layers = j.value("layers", std::vector<std::string>{});
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("template.json: ") + e.what());
  }
  if (t.base != "host" && t.base != "rootfs")
    return InvalidArgument("template.json: base must be host or rootfs");
  return t;
}

Status ValidateTemplateName(const std::string& name) {
  if (name.empty() || name.size() > 63) return InvalidArgument("template name: 1 to 63 characters");
  if (!std::isalnum(static_cast<unsigned char>(name[0])))
    return InvalidArgument("template name '" + name + "': must start with a letter or digit");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgument("template name '" + name + "': only a-z, 0-9, '.', '_' and '-'");
  }
  if (name == "base" || name == "code-interpreter-v1" || name == "host")
    return InvalidArgument("template name '" + name + "' is reserved for a built-in template");
  return Status::Ok();
}

TemplateStore::TemplateStore(std::string home) : dir_((home.empty() ? DefaultHome() : home) + "/templates") {}

std::vector<TemplateInfo> TemplateStore::List() const {
  std::vector<TemplateInfo> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    Result<TemplateInfo> t = Get(name);
    if (t.ok()) out.push_back(std::move(*t));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<TemplateInfo> TemplateStore::Get(const std::string& name) const {
  KILN_RETURN_IF_ERROR(ValidateTemplateName(name));
  Result<std::string> text = ReadText(dir_ + "/" + name + "/template.json");
  if (!text.ok()) {
    std::string known;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      std::string n = entry.path().filename().string();
      if (!n.empty() && n[0] != '.' && fs::exists(entry.path() / "template.json", ec))
        known += (known.empty() ? "" : ", ") + n;
    }
    return NotFound("template '" + name + "' not found in " + dir_ +
                    " (built: " + (known.empty() ? "none" : known) + ")");
  }
  KILN_ASSIGN_OR_RETURN(TemplateInfo t, TemplateInfoFromJson(*text));
  t.name = name;
  t.root = dir_ + "/" + name + "/rootfs";
  t.build_log = dir_ + "/" + name + "/build.log";
  return t;
}

Status TemplateStore::Remove(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(TemplateInfo t, Get(name));
  std::string trash = dir_ + "/.rm-" + name + "-" + std::to_string(getpid());
  if (rename((dir_ + "/" + name).c_str(), trash.c_str()) != 0)
    return ErrnoStatus("rename(" + dir_ + "/" + name + ")", errno);
  std::error_code ec;
  fs::remove_all(trash, ec);
  if (ec) return ErrnoStatus("removing " + trash, ec.value());
  return Status::Ok();
}

Result<int> TemplateStore::Prune() const {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(LayersDir(), ec)) {
    fs::remove_all(entry.path(), ec);
    if (ec) return ErrnoStatus("removing " + entry.path().string(), ec.value());
    ++n;
  }
  return n;
}

Status TemplateStore::Install(const std::string& staging, const std::string& name) const {
  std::string target = dir_ + "/" + name;
  std::error_code ec;
  std::string old = dir_ + "/.old-" + name + "-" + std::to_string(getpid());
  bool had_old = fs::exists(target, ec);
  if (had_old && rename(target.c_str(), old.c_str()) != 0)
    return ErrnoStatus("rename(" + target + ")", errno);
  if (rename(staging.c_str(), target.c_str()) != 0) return ErrnoStatus("rename(" + staging + ")", errno);
  if (had_old) fs::remove_all(old, ec);
  return Status::Ok();
}

Status ApplyTemplate(const TemplateInfo& info, sandbox::SandboxSpec& spec) {
  std::error_code ec;
  if (!fs::is_directory(info.root, ec))
    return FailedPrecondition("template '" + info.name + "': its root " + info.root + " is missing");
  if (info.base == "rootfs") {
    spec.mounts.clear();
    spec.etc_files.clear();  // the template's own /etc (loader cache, certificates) matches its /usr
    spec.users_from = info.root + "/etc";
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(info.root, ec)) names.push_back(entry.path().filename());
  if (ec) return ErrnoStatus("listing " + info.root, ec.value());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (SandboxOwnsTopLevel(name) || (info.base == "host" && HostSupplies(name))) continue;
    std::string path = info.root + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return ErrnoStatus("lstat(" + path + ")", errno);
    if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) continue;
    // A symlink (bin -> usr/bin) is mirrored; a directory becomes a private copy-on-write layer.
    spec.mounts.push_back({path, "/" + name, /*writable=*/false, /*optional=*/false, /*layered=*/true});
  }
  for (const auto& [k, v] : info.env) spec.env[k] = v;
  spec.workdir = info.workdir;
  spec.limits.cpus = info.cpu_count;
  spec.limits.memory_bytes = info.memory_mb << 20;
  spec.limits.disk_bytes = info.disk_mb << 20;
  return SeedHome(info.root, spec);
}

}  // namespace kiln::tmpl
