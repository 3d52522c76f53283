#include "kiln/template/builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/base/install_paths.h"
#include "kiln/base/strings.h"
#include "kiln/runtime/run.h"
#include "kiln/template/dockerfile.h"
#include "layers.h"

namespace kiln::tmpl {
namespace fs = std::filesystem;
namespace {

// Files every sandbox generates in its /etc at start (mount_plan.cc): a layer never keeps them. Its
// passwd and group are the root's own with Kiln's accounts merged in (SandboxSpec::users_from), so a layer
// keeps those, with the system users and groups its packages added.
constexpr const char* kGeneratedEtc[] = {"hosts", "hostname", "resolv.conf"};
constexpr size_t kFailureOutputBytes = 8192;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "...\n" + s.substr(s.size() - n);
}

struct State {
  std::map<std::string, std::string> env;
  std::string workdir = "/home/user";
  std::string user = "root";  // who RUN runs as until USER
  std::string last_user;      // the template's default user: the last USER, else "user"
};

class Builder {
 public:
  Builder(const BuildRequest& req, TemplateStore store) : req_(req), store_(std::move(store)) {}
  ~Builder() {
    if (mounted_) (void)Unmount(merged_);
    std::error_code ec;
    if (!work_.empty()) fs::remove_all(work_, ec);
  }

  // The log of a failed build, where `kiln template build` points: HOME/templates/.NAME.failed.log.
  void SaveFailedLog(const std::string& error) {
    if (ValidateTemplateName(req_.name).ok())
      std::ofstream(store_.dir() + "/." + req_.name + ".failed.log") << log_ << "error: " << error << "\n";
  }

  Result<TemplateInfo> Run() {
    KILN_RETURN_IF_ERROR(ValidateTemplateName(req_.name));
    if (geteuid() != 0) return FailedPrecondition("kiln template build needs root (it mounts overlays)");
    std::ifstream in(req_.dockerfile, std::ios::binary);
    if (!in) return NotFound("cannot read " + req_.dockerfile);
    std::stringstream text;
    text << in.rdbuf();
    std::string label = fs::path(req_.dockerfile).filename().string();
    KILN_ASSIGN_OR_RETURN(file_, ParseDockerfile(text.str(), label, req_.build_args));
    context_ = req_.context.empty() ? fs::absolute(req_.dockerfile).parent_path().string() : req_.context;
    std::error_code ec;
    if (!fs::is_directory(context_, ec)) return NotFound("build context " + context_ + " is not a directory");
    context_ = fs::canonical(context_).string();
    KILN_RETURN_IF_ERROR(Prepare());
    KILN_RETURN_IF_ERROR(Base());
    int total = static_cast<int>(file_.steps.size()) + 1, n = 1;
    for (const Instruction& step : file_.steps) KILN_RETURN_IF_ERROR(Step(step, ++n, total));
    return Finish();
  }

 private:
  void Say(const std::string& line) {
    log_ += line + "\n";
    if (req_.progress) req_.progress(line);
  }
  std::string Where(int line) const { return file_.file + ":" + std::to_string(line); }
  std::string LayerDir(const std::string& id) const { return store_.LayersDir() + "/" + id; }
  bool Cached(const std::string& id) const {
    std::error_code ec;
    return !req_.no_cache && fs::exists(LayerDir(id) + "/complete", ec);
  }

  Status Prepare() {
    work_ = store_.dir() + "/.build-" + req_.name + "-" + std::to_string(getpid());
    merged_ = work_ + "/merged";
    std::error_code ec;
    fs::create_directories(store_.LayersDir(), ec);
    fs::create_directories(merged_, ec);
    if (ec) return ErrnoStatus("creating " + merged_, ec.value());
    chmod(store_.dir().c_str(), 0700);
    return Status::Ok();
  }

  // A new layer directory `id`.tmp with an empty diff/; Commit renames it into the cache.
  Status NewLayer(const std::string& id) {
    std::error_code ec;
    fs::remove_all(LayerDir(id) + ".tmp", ec);
    fs::remove_all(LayerDir(id), ec);
    fs::create_directories(LayerDir(id) + ".tmp/diff", ec);
    fs::create_directories(LayerDir(id) + ".tmp/work", ec);
    if (ec) return ErrnoStatus("creating layer " + id, ec.value());
    return Status::Ok();
  }
  Status Commit(const std::string& id, const std::string& what) {
    std::error_code ec;
    fs::remove_all(LayerDir(id) + ".tmp/work", ec);
    std::ofstream(LayerDir(id) + ".tmp/complete") << what << "\n";
    if (rename((LayerDir(id) + ".tmp").c_str(), LayerDir(id).c_str()) != 0)
      return ErrnoStatus("rename(layer " + id + ")", errno);
    layers_.push_back(id);
    return Status::Ok();
  }

  Status Base() {
    std::string id, what = "FROM " + file_.from;
    Say("[1/" + std::to_string(file_.steps.size() + 1) + "] " + Where(file_.from_line) + " " + what);
    TemplateInfo parent;
    if (file_.from == "host") {
      base_ = "host", id = Sha256Hex("host\n").substr(0, 16);
    } else if (StartsWith(file_.from, "kiln:")) {
      Result<TemplateInfo> got = store_.Get(file_.from.substr(5));
      if (!got.ok()) return NotFound(Where(file_.from_line) + ": " + got.status().message());
      parent = *got;
      base_ = parent.base;
      id = Sha256Hex("kiln\n" + parent.name + "\n" + std::to_string(parent.created_ms)).substr(0, 16);
      state_.env = parent.env;
      state_.workdir = parent.workdir;
      state_.last_user = parent.user;
      start_cmd_ = parent.start_cmd, ready_cmd_ = parent.ready_cmd;
      ready_timeout_s_ = parent.ready_timeout_s;
      python_context_ = parent.python_context;
    } else {
      base_ = "rootfs";
      suite_ = *DebianSuite(file_.from);
      id = Sha256Hex("debian\n" + suite_ + "\nminbase\n" + AptMirror()).substr(0, 16);
    }
    if (Cached(id)) {
      Say("  CACHED layer " + id);
      layers_.push_back(id);
      return Status::Ok();
    }
    KILN_RETURN_IF_ERROR(NewLayer(id));
    std::string diff = LayerDir(id) + ".tmp/diff";
    auto started = std::chrono::steady_clock::now();
    if (!suite_.empty()) {
      KILN_RETURN_IF_ERROR(Bootstrap(diff));
    } else if (!parent.name.empty()) {
      KILN_RETURN_IF_ERROR(CopyTree(parent.root, diff));
    } else {
      // Over the host's /usr, RUN keeps what it writes in these (and in directories WORKDIR makes).
      for (const char* dir : {"opt", "srv", "root", "var", "mnt", "media"})
        if (mkdir((diff + "/" + dir).c_str(), std::string(dir) == "root" ? 0700 : 0755) != 0)
          return ErrnoStatus("mkdir(" + diff + "/" + dir + ")", errno);
    }
    KILN_RETURN_IF_ERROR(ShiftOwners(diff, /*to_sandbox=*/true));
    Say("  done in " + Seconds(started) + " (layer " + id + ")");
    return Commit(id, what);
  }

  static std::string Seconds(std::chrono::steady_clock::time_point since) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", s);
    return buf;
  }

  Status Bootstrap(const std::string& diff) {
    std::string mirror = AptMirror();
    Say("  mmdebstrap --variant=minbase " + suite_ + " " + mirror);
    std::string output;
    // apt drops to the _apt user to download; a sandbox maps only root and user, so apt stays root.
    Result<int> rc = RunHostCommand({"mmdebstrap", "--variant=minbase", "--mode=root", "--quiet",
                                     "--aptopt=APT::Sandbox::User \"root\"", suite_, diff, mirror},
                                    &output);
    if (!rc.ok())
      return FailedPrecondition(Where(file_.from_line) + ": " + rc.status().message() +
                                " (install mmdebstrap: scripts/setup.sh)");
    log_ += output;
    if (*rc != 0)
      return Internal(Where(file_.from_line) + ": FROM " + file_.from + ": mmdebstrap failed (exit " +
                      std::to_string(*rc) + ")\n" + Tail(output, kFailureOutputBytes));
    return Status::Ok();
  }

  // The cache key: the parent layer, the instruction and the state it runs in.
  std::string Key(const Instruction& step, const std::string& extra) const {
    std::string s = layers_.back() + "\n" + std::string(OpName(step.op)) + "\n";
    for (const std::string& a : step.args) s += a + '\0';
    s += "\nuser=" + state_.user + "\nworkdir=" + state_.workdir + "\n";
    for (const auto& [k, v] : state_.env) s += k + "=" + v + '\0';
    return Sha256Hex(s + "\n" + extra).substr(0, 16);
  }

  std::string Absolute(const std::string& path) const {
    if (!path.empty() && path[0] == '/') return path;
    return (state_.workdir == "/" ? "" : state_.workdir) + "/" + path;
  }

  Status Step(const Instruction& step, int n, int total) {
    Say("[" + std::to_string(n) + "/" + std::to_string(total) + "] " + Where(step.line) + " " + step.text);
    switch (step.op) {
      case Op::kEnv:
        for (const auto& [k, v] : step.pairs) state_.env[k] = v;
        return Status::Ok();
      case Op::kArg:
        return Status::Ok();  // substituted by the parser; RUN sees ARGs only through ENV
      case Op::kUser:
        state_.user = state_.last_user = step.args[0];
        return Status::Ok();
      case Op::kWorkdir: {
        state_.workdir = Absolute(step.args[0]);
        return Layer(step, "", [&](const std::string&) { return MakeWorkdir(); });
      }
      case Op::kCopy:
      case Op::kAdd: {
        std::string hashes;
        for (size_t i = 0; i + 1 < step.args.size(); ++i) {
          KILN_ASSIGN_OR_RETURN(std::string src, ContextPath(step, step.args[i]));
          KILN_ASSIGN_OR_RETURN(std::string h, HashPath(src));
          hashes += h + "\n";
        }
        hashes += step.chown.value_or("root");
        return Layer(step, hashes, [&](const std::string&) { return Copy(step); });
      }
      case Op::kRun:
        return Layer(step, "", [&](const std::string& diff) { return RunStep(step, diff); });
      case Op::kFrom:
        break;
    }
    return Internal(Where(step.line) + ": unexpected instruction");
  }

  template <typename Fn>
  Status Layer(const Instruction& step, const std::string& extra, Fn&& fn) {
    std::string id = Key(step, extra);
    if (Cached(id)) {
      Say("  CACHED layer " + id);
      layers_.push_back(id);
      return Status::Ok();
    }
    KILN_RETURN_IF_ERROR(NewLayer(id));
    std::vector<std::string> lowers;
    for (const std::string& l : layers_) lowers.push_back(LayerDir(l) + "/diff");
    std::string diff = LayerDir(id) + ".tmp/diff";
    KILN_RETURN_IF_ERROR(MountOverlay(lowers, diff, LayerDir(id) + ".tmp/work", merged_));
    mounted_ = true;
    auto started = std::chrono::steady_clock::now();
    Status s = fn(diff);
    Status u = Unmount(merged_);
    mounted_ = !u.ok();
    if (!s.ok()) {
      std::error_code ec;
      fs::remove_all(LayerDir(id) + ".tmp", ec);
      return s;
    }
    KILN_RETURN_IF_ERROR(u);
    Say("  done in " + Seconds(started) + " (layer " + id + ")");
    return Commit(id, step.text);
  }

  Status MakeDirs(const std::string& path, uid_t uid) {
    std::string dir = merged_;
    for (const std::string& part : Split(path, '/')) {
      if (part.empty() || part == ".") continue;
      dir += "/" + part;
      if (mkdir(dir.c_str(), 0755) == 0) {
        if (lchown(dir.c_str(), uid, uid) != 0) return ErrnoStatus("chown(" + dir + ")", errno);
      } else if (errno != EEXIST) {
        return ErrnoStatus("mkdir(" + dir + ")", errno);
      }
    }
    return Status::Ok();
  }
  Status MakeWorkdir() { return MakeDirs(state_.workdir, SandboxRootHostUid()); }

  // `src` inside the build context: no escape through '..' or symlinks.
  Result<std::string> ContextPath(const Instruction& step, const std::string& src) const {
    if (src.find_first_of("*?[") != std::string::npos)
      return InvalidArgument(Where(step.line) + ": " + std::string(OpName(step.op)) + " " + src +
                             ": wildcards are not supported");
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::path(context_) / src, ec);
    std::string s = p.string();
    if (ec || !(s == context_ || StartsWith(s, context_ + "/")))
      return InvalidArgument(Where(step.line) + ": " + src + " is outside the build context " + context_);
    if (!fs::exists(fs::symlink_status(p, ec)))
      return NotFound(Where(step.line) + ": " + src + " not found in the build context " + context_);
    return s;
  }

  static bool IsArchive(const std::string& name) {
    for (const char* ext : {".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar.zst"})
      if (name.size() > strlen(ext) && name.compare(name.size() - strlen(ext), strlen(ext), ext) == 0)
        return true;
    return false;
  }

  Status Copy(const Instruction& step) {
    uid_t owner = SandboxRootHostUid() + (step.chown.value_or("root") == "user" ? 1000 : 0);
    std::string dest = Absolute(step.args.back());
    bool into_dir = dest.back() == '/' || step.args.size() > 2;
    std::error_code ec;
    if (fs::is_directory(merged_ + dest, ec)) into_dir = true;
    KILN_RETURN_IF_ERROR(
        MakeDirs(into_dir ? dest : fs::path(dest).parent_path().string(), SandboxRootHostUid()));
    for (size_t i = 0; i + 1 < step.args.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(std::string src, ContextPath(step, step.args[i]));
      std::string target = merged_ + dest;
      bool is_dir = fs::is_directory(src, ec);
      if (step.op == Op::kAdd && !is_dir && IsArchive(src)) {
        std::string out;
        KILN_RETURN_IF_ERROR(MakeDirs(dest, SandboxRootHostUid()));
        KILN_ASSIGN_OR_RETURN(int rc,
                              RunHostCommand({"tar", "-xf", src, "-C", target, "--no-same-owner"}, &out));
        if (rc != 0) return Internal(Where(step.line) + ": ADD: tar -xf " + src + " failed: " + out);
        KILN_RETURN_IF_ERROR(ChownTree(target, owner));
        continue;
      }
      if (is_dir) {
        KILN_RETURN_IF_ERROR(MakeDirs(dest, owner));
      } else if (into_dir) {
        target += "/" + fs::path(src).filename().string();
      }
      fs::copy(src, target,
               fs::copy_options::recursive | fs::copy_options::copy_symlinks |
                   fs::copy_options::overwrite_existing,
               ec);
      if (ec) return ErrnoStatus(Where(step.line) + ": copying " + step.args[i] + " to " + dest, ec.value());
      KILN_RETURN_IF_ERROR(ChownTree(target, owner));
    }
    return Status::Ok();
  }

  static Status ChownTree(const std::string& path, uid_t owner) {
    std::error_code ec;
    if (lchown(path.c_str(), owner, owner) != 0) return ErrnoStatus("chown(" + path + ")", errno);
    if (!fs::is_directory(fs::symlink_status(path, ec))) return Status::Ok();
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (lchown(it->path().c_str(), owner, owner) != 0)
        return ErrnoStatus("chown(" + it->path().string() + ")", errno);
    return Status::Ok();
  }

  // The build sandbox: the merged layer stack as its root, writable, except what every sandbox owns.
  sandbox::SandboxSpec RunSpec() const {
    sandbox::SandboxSpec spec;
    if (base_ == "rootfs") {
      spec.mounts.clear();
      spec.etc_files.clear();
      spec.users_from = merged_ + "/etc";
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(merged_, ec)) {
      std::string name = entry.path().filename().string();
      if (name == "dev" || name == "proc" || name == "sys" || name == "tmp" || name == "home") continue;
      if (base_ == "host" &&
          (name == "usr" || name == "bin" || name == "sbin" || StartsWith(name, "lib") || name == "etc"))
        continue;
      bool dir = entry.is_directory(ec) && !entry.is_symlink(ec);
      if (!dir && !entry.is_symlink(ec)) continue;
      spec.mounts.push_back({entry.path().string(), "/" + name, /*writable=*/dir, false, false});
    }
    spec.env = state_.env;
    spec.workdir = state_.workdir;
    spec.network = req_.network;
    spec.limits.timeout_ms = req_.step_timeout_ms;
    spec.limits.memory_bytes = 2048ll << 20;
    spec.limits.pids = 1024;
    spec.limits.cpus = 0;
    spec.limits.disk_bytes = 256ll << 20;
    spec.limits.max_file_bytes = 4ll << 30;
    return spec;
  }

  Status RunStep(const Instruction& step, const std::string& diff) {
    runtime::RunRequest run;
    run.argv = step.args;
    run.spec = RunSpec();
    run.user = state_.user;
    std::string output, partial;
    Result<runtime::RunResult> r = runtime::Run(run, [&](int, std::string_view data) {
      output.append(data);
      partial.append(data);
      for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1))
        Say("  | " + partial.substr(0, nl));
    });
    if (!partial.empty()) Say("  | " + partial);
    if (!r.ok()) return Internal(Where(step.line) + ": " + step.text + ": " + r.status().message());
    for (const char* name : kGeneratedEtc) {
      std::error_code ec;
      fs::remove(diff + "/etc/" + name, ec);
    }
    if (r->exit_code != 0 || r->timed_out) {
      std::string why = r->timed_out ? "timed out" : "exit code " + std::to_string(r->exit_code);
      return Internal(Where(step.line) + ": " + step.text + " failed (" + why + ")\n" +
                      Tail(output, kFailureOutputBytes));
    }
    return Status::Ok();
  }

  Result<TemplateInfo> Finish() {
    std::string staging = work_ + "/template";
    std::error_code ec;
    fs::create_directories(staging + "/rootfs", ec);
    std::vector<std::string> lowers;
    for (const std::string& l : layers_) lowers.push_back(LayerDir(l) + "/diff");
    auto started = std::chrono::steady_clock::now();
    if (lowers.size() == 1) {
      KILN_RETURN_IF_ERROR(CopyTree(lowers[0], staging + "/rootfs"));
    } else {
      KILN_RETURN_IF_ERROR(MountOverlay(lowers, "", "", merged_));
      mounted_ = true;
      Status copied = CopyTree(merged_, staging + "/rootfs");
      KILN_RETURN_IF_ERROR(Unmount(merged_));
      mounted_ = false;
      KILN_RETURN_IF_ERROR(copied);
    }
    KILN_RETURN_IF_ERROR(ShiftOwners(staging + "/rootfs", /*to_sandbox=*/false));
    chmod((staging + "/rootfs").c_str(), 0755);
    TemplateInfo info;
    info.name = req_.name;
    info.base = base_;
    info.from = file_.from;
    info.env = state_.env;
    info.workdir = state_.workdir;
    info.user = state_.last_user.empty() ? "user" : state_.last_user;
    info.start_cmd = file_.start_cmd.empty() ? start_cmd_ : file_.start_cmd;
    info.ready_cmd = file_.start_cmd.empty() ? ready_cmd_ : file_.ready_cmd;
    info.ready_timeout_s = file_.start_cmd.empty() ? ready_timeout_s_ : file_.ready_timeout_s.value_or(60);
    info.description = file_.description;
    info.python_context = file_.python_context || python_context_;
    if (file_.cpu_count) info.cpu_count = *file_.cpu_count;
    if (file_.memory_mb) info.memory_mb = *file_.memory_mb;
    if (file_.disk_mb) info.disk_mb = *file_.disk_mb;
    info.envd_version = VersionString();
    info.created_ms = NowMs();
    info.size_bytes = DiskUsage(staging + "/rootfs");
    info.layers = layers_;
    Say("flattened " + std::to_string(layers_.size()) + " layers in " + Seconds(started) + ": " +
        std::to_string(info.size_bytes >> 20) + " MiB");
    std::ofstream(staging + "/template.json") << TemplateInfoToJson(info);
    std::ofstream(staging + "/build.log") << log_;
    KILN_RETURN_IF_ERROR(store_.Install(staging, req_.name));
    return store_.Get(req_.name);
  }

  const BuildRequest& req_;
  TemplateStore store_;
  Dockerfile file_;
  std::string context_, work_, merged_, base_, suite_, start_cmd_, ready_cmd_, log_;
  int64_t ready_timeout_s_ = 60;
  bool mounted_ = false, python_context_ = false;
  State state_;
  std::vector<std::string> layers_;  // ids, bottom first
};

}  // namespace

Result<TemplateInfo> BuildTemplate(const BuildRequest& request) {
  TemplateStore store(request.home);
  Builder builder(request, store);
  Result<TemplateInfo> r = builder.Run();
  if (!r.ok()) builder.SaveFailedLog(r.status().message());
  return r;
}

}  // namespace kiln::tmpl
