#include "kiln/sandbox/spec.h"

#include "kiln/base/strings.h"
#include "network.h"

namespace kiln::sandbox {

std::vector<BindMount> SandboxSpec::DefaultSystemMounts() {
  // Debian 12 merges /bin, /lib, /lib64 and /sbin into /usr (they are symlinks); the launcher mirrors a
  // symlink as a symlink and binds a directory, so the same list works on unmerged hosts.
  return {
      {"/usr", "", false, false, true},   {"/bin", "", false, true, true},
      {"/sbin", "", false, true, true},   {"/lib", "", false, true, true},
      {"/lib64", "", false, true, true},  {"/lib32", "", false, true, true},
      {"/libx32", "", false, true, true},
  };
}

std::vector<std::string> SandboxSpec::DefaultEtcFiles() {
  // What the dynamic loader, shells, Python, node, R (Debian's R_HOME/etc links into /etc/R, which the R
  // Jupyter kernel needs) and TLS clients read. Deliberately absent: shadow, gshadow, sudoers, ssh,
  // machine-id and anything with credentials.
  return {"ld.so.cache",     "ld.so.conf",  "ld.so.conf.d", "alternatives",  "ssl",
          "ca-certificates", "localtime",   "timezone",     "mime.types",    "profile",
          "profile.d",       "bash.bashrc", "inputrc",      "nsswitch.conf", "os-release",
          "debian_version",  "services",    "protocols",    "python3",       "python3.11",
          "matplotlibrc",    "fonts",       "magic",        "login.defs",    "R"};
}

namespace {

Status CheckRange(const char* field, int64_t value, int64_t min, int64_t max, const char* unit) {
  if (value != 0 && (value < min || value > max)) {
    return InvalidArgument(std::string(field) + ": must be 0 (unlimited) or between " + std::to_string(min) +
                           " and " + std::to_string(max) + " " + unit + ", got " + std::to_string(value));
  }
  return Status::Ok();
}

Status CheckSandboxPath(const std::string& field, const std::string& path) {
  if (path.empty() || path[0] != '/')
    return InvalidArgument(field + ": must be an absolute path, got '" + path + "'");
  for (const std::string& part : Split(path, '/')) {
    if (part == "..") return InvalidArgument(field + ": must not contain '..', got '" + path + "'");
  }
  if (path.find('\0') != std::string::npos) return InvalidArgument(field + ": contains a NUL byte");
  return Status::Ok();
}

Status ValidateLimits(const Limits& l) {
  constexpr int64_t kMiB = 1 << 20;
  KILN_RETURN_IF_ERROR(CheckRange("limits.memory_bytes", l.memory_bytes, 16 * kMiB, 1ll << 40, "bytes"));
  KILN_RETURN_IF_ERROR(CheckRange("limits.pids", l.pids, 8, 1 << 22, "processes"));
  if (l.cpus < 0 || l.cpus > 1024) {
    return InvalidArgument("limits.cpus: must be 0 (unlimited) or between 0.01 and 1024, got " +
                           std::to_string(l.cpus));
  }
  if (l.cpus != 0 && l.cpus < 0.01) return InvalidArgument("limits.cpus: must be at least 0.01");
  KILN_RETURN_IF_ERROR(CheckRange("limits.timeout_ms", l.timeout_ms, 1, 7 * 24 * 3600 * 1000ll, "ms"));
  KILN_RETURN_IF_ERROR(CheckRange("limits.tmpfs_home_bytes", l.tmpfs_home_bytes, kMiB, 1ll << 40, "bytes"));
  KILN_RETURN_IF_ERROR(CheckRange("limits.tmpfs_tmp_bytes", l.tmpfs_tmp_bytes, kMiB, 1ll << 40, "bytes"));
  // No "0 = unlimited" here: a tmpfs of size 0 has no bound at all.
  if (l.disk_bytes < 16 * kMiB || l.disk_bytes > (1ll << 40)) {
    return InvalidArgument("limits.disk_bytes: must be between 16 MiB and 1 TiB, got " +
                           std::to_string(l.disk_bytes));
  }
  KILN_RETURN_IF_ERROR(CheckRange("limits.max_file_bytes", l.max_file_bytes, 1024, 1ll << 40, "bytes"));
  if (l.max_open_files < 16 || l.max_open_files > (1 << 20)) {
    return InvalidArgument("limits.max_open_files: must be between 16 and 1048576, got " +
                           std::to_string(l.max_open_files));
  }
  return CheckRange("limits.max_output_bytes", l.max_output_bytes, 1, 1ll << 34, "bytes");
}

}  // namespace

Status SandboxSpec::Validate() const {
  KILN_RETURN_IF_ERROR(ValidateLimits(limits));
  for (size_t i = 0; i < mounts.size(); ++i) {
    std::string field = "mounts[" + std::to_string(i) + "]";
    KILN_RETURN_IF_ERROR(CheckSandboxPath(field + ".source", mounts[i].source));
    if (!mounts[i].target.empty())
      KILN_RETURN_IF_ERROR(CheckSandboxPath(field + ".target", mounts[i].target));
  }
  for (const std::string& name : etc_files) {
    if (name.empty() || name.find('/') != std::string::npos || name == "..") {
      return InvalidArgument("etc_files: entries are names directly under /etc, got '" + name + "'");
    }
  }
  for (const auto& [path, content] : files) {
    KILN_RETURN_IF_ERROR(CheckSandboxPath("files", path));
    if (!StartsWith(path, "/home/user/") && !StartsWith(path, "/tmp/")) {
      return InvalidArgument("files: '" + path + "' must be under /home/user/ or /tmp/");
    }
  }
  for (const auto* list : {&network_rules.allow_out, &network_rules.deny_out}) {
    const char* field = list == &network_rules.allow_out ? "network.allow_out" : "network.deny_out";
    for (size_t i = 0; i < list->size(); ++i)
      KILN_RETURN_IF_ERROR(
          ParseIpv4Cidr(std::string(field) + "[" + std::to_string(i) + "]", (*list)[i]).status());
  }
  for (size_t i = 0; i < overlays.size(); ++i) {
    std::string field = "overlays[" + std::to_string(i) + "]";
    const OverlayMount& o = overlays[i];
    KILN_RETURN_IF_ERROR(CheckSandboxPath(field + ".source", o.source));
    KILN_RETURN_IF_ERROR(CheckSandboxPath(field + ".target", o.target));
    if (!StartsWith(o.target, "/home/user/") && !StartsWith(o.target, "/tmp/"))
      return InvalidArgument(field + ".target: '" + o.target + "' must be under /home/user/ or /tmp/");
    if (o.source.find_first_of(",:") != std::string::npos)
      return InvalidArgument(field + ".source: overlayfs cannot take a path with ',' or ':', got '" +
                             o.source + "'");
    if (o.upper_bytes < (1 << 20) || o.upper_bytes > (1ll << 40))
      return InvalidArgument(field + ".upper_bytes: must be between 1 MiB and 1 TiB, got " +
                             std::to_string(o.upper_bytes));
  }
  KILN_RETURN_IF_ERROR(CheckSandboxPath("workdir", workdir));
  if (hostname.empty() || hostname.size() > 64)
    return InvalidArgument("hostname: must be 1 to 64 characters");
  for (const auto& [key, value] : env) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return InvalidArgument("env: invalid variable name '" + key + "'");
    }
    if (value.find('\0') != std::string::npos)
      return InvalidArgument("env: value of " + key + " contains NUL");
  }
  return Status::Ok();
}

}  // namespace kiln::sandbox
