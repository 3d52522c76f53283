#include "kiln/runtime/runtime.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/protocol/http_server.h"
#include "kiln/runtime/backend.h"
#include "kiln/runtime/doctor.h"
#include "kiln/runtime/envd_binary.h"

namespace kiln::runtime {
namespace {

int64_t WallMillis() {
  return WallNanos() / 1'000'000;
}

Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      return ErrnoStatus("mkdir(" + partial + ")", errno);
  }
  return Status::Ok();
}

std::vector<std::string> ServeArgv(const CreateOptions& o) {
  std::vector<std::string> argv = {"kiln-envd",      "serve",        "--listen-fd", "3",
                                   "--workdir",      o.spec.workdir, "--args-fd",   "4",
                                   "--default-user", o.default_user};
  if (o.preload_python) {
    argv.push_back("--preload-python");
    argv.push_back("true");
  }
  if (KernelBridgeBinaryPath()) {
    argv.push_back("--kernel-bridge");
    argv.push_back(kSandboxKernelBridgePath);
  }
  return argv;
}

// The arguments that must not appear in a command line (readable by every host user in /proc/PID/cmdline,
// and by the sandbox's code in /proc/1/cmdline): the access token and the sandbox's environment variables,
// which often hold keys. envd reads them from fd 4 (--args-fd), NUL-separated.
Result<UniqueFd> SecretArgs(const CreateOptions& o) {
  std::string bytes;
  auto add = [&bytes](const std::string& word) { bytes.append(word).push_back('\0'); };
  for (const auto& [key, value] : o.env_vars) add("--env"), add(key + "=" + value);
  if (!o.access_token.empty()) add("--access-token"), add(o.access_token);
  UniqueFd fd(memfd_create("kiln-envd-args", MFD_CLOEXEC));
  if (!fd) return ErrnoStatus("memfd_create(envd arguments)", errno);
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write(envd arguments)", errno);
    done += static_cast<size_t>(n);
  }
  return fd;
}

}  // namespace

constexpr int64_t kStaleSocketSeconds = 60;

std::string DefaultSocketDir() {
  if (geteuid() == 0) return "/run/kiln/sockets";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return std::string(xdg) + "/kiln/sockets";
  return "/tmp/kiln-" + std::to_string(geteuid()) + "/sockets";
}

Result<std::unique_ptr<Runtime>> Runtime::Create(std::string socket_dir) {
  KILN_ASSIGN_OR_RETURN(sandbox::Backend * backend, DefaultBackend());
  KILN_RETURN_IF_ERROR(EnvdBinaryFd().status());
  if (socket_dir.empty()) socket_dir = DefaultSocketDir();
  KILN_RETURN_IF_ERROR(MakeDirs(socket_dir));
  // A Kiln process killed by SIGKILL cannot unlink its sandboxes' sockets; the next one does, once they are
  // a minute old (a margin for a Kiln in another network namespace sharing the directory).
  for (const std::string& dead : DeadSocketFiles(socket_dir, kStaleSocketSeconds)) unlink(dead.c_str());
  return std::unique_ptr<Runtime>(new Runtime(backend, std::move(socket_dir)));
}

Runtime::Runtime(sandbox::Backend* backend, std::string socket_dir)
    : backend_(backend), socket_dir_(std::move(socket_dir)) {
  reaper_ = std::thread([this] { ReapLoop(); });
}

Runtime::~Runtime() {
  std::map<std::string, std::unique_ptr<Entry>> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    doomed.swap(sandboxes_);
  }
  wake_.notify_all();
  reaper_.join();
  for (auto& [id, entry] : doomed) (void)Destroy(*entry);
}

Status Runtime::Destroy(Entry& entry) {
  Status s = entry.sandbox->Destroy();
  if (unlink(entry.info.socket_path.c_str()) != 0 && errno != ENOENT && s.ok()) {
    s = ErrnoStatus("unlink(" + entry.info.socket_path + ")", errno);
  }
  return s;
}

Result<SandboxInfo> Runtime::CreateSandbox(const CreateOptions& options) {
  auto entry = std::make_unique<Entry>();
  entry->info.id = options.id.empty() ? RandomId() : options.id;
  entry->info.socket_path = socket_dir_ + "/" + entry->info.id + ".sock";
  entry->info.access_token = options.access_token;
  KILN_ASSIGN_OR_RETURN(UniqueFd listener, http::ListenUnix(entry->info.socket_path));
  KILN_ASSIGN_OR_RETURN(int envd_fd, EnvdBinaryFd());
  sandbox::LaunchOptions launch;
  launch.id = entry->info.id;
  launch.init_binary_fd = envd_fd;
  launch.argv = ServeArgv(options);
  Result<UniqueFd> secrets = SecretArgs(options);
  if (!secrets.ok()) {
    unlink(entry->info.socket_path.c_str());
    return secrets.status();
  }
  launch.fds = {{listener.get(), 3}, {secrets->get(), 4}};
  launch.die_with_parent = options.die_with_owner;
  sandbox::SandboxSpec spec = options.spec;
  KILN_ASSIGN_OR_RETURN(std::string envd_path, EnvdBinaryPath());
  spec.mounts.push_back({envd_path, kSandboxSudoPath, /*writable=*/false, /*optional=*/false});
  // The bridge is dynamically linked (libzmq, libcrypto): it runs against the sandbox's /usr, the host's.
  if (std::optional<std::string> bridge = KernelBridgeBinaryPath())
    spec.mounts.push_back({*bridge, kSandboxKernelBridgePath, /*writable=*/false, /*optional=*/true});
  Result<std::unique_ptr<sandbox::Sandbox>> sb = backend_->Launch(spec, launch);
  if (!sb.ok()) {
    unlink(entry->info.socket_path.c_str());
    return sb.status();
  }
  entry->sandbox = std::move(sb).value();
  entry->info.started_at_ms = WallMillis();
  int64_t ttl = options.spec.limits.timeout_ms;
  entry->info.end_at_ms = ttl > 0 ? entry->info.started_at_ms + ttl : 0;
  SandboxInfo info = entry->info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sandboxes_[info.id] = std::move(entry);
  }
  wake_.notify_all();
  return info;
}

Status Runtime::Kill(const std::string& id) {
  std::unique_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return NotFound("sandbox " + id + " not found");
    entry = std::move(it->second);
    sandboxes_.erase(it);
  }
  return Destroy(*entry);
}

Result<SandboxInfo> Runtime::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return NotFound("sandbox " + id + " not found");
  return it->second->info;
}

std::vector<SandboxInfo> Runtime::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SandboxInfo> out;
  for (const auto& [id, entry] : sandboxes_) out.push_back(entry->info);
  return out;
}

Status Runtime::SetTimeout(const std::string& id, int64_t ttl_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return NotFound("sandbox " + id + " not found");
    it->second->info.end_at_ms = ttl_ms > 0 ? WallMillis() + ttl_ms : 0;
  }
  wake_.notify_all();
  return Status::Ok();
}

Status Runtime::SetPaused(const std::string& id, bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return NotFound("sandbox " + id + " not found");
  KILN_RETURN_IF_ERROR(it->second->sandbox->SetPaused(paused));
  it->second->info.paused = paused;
  return Status::Ok();
}

Result<SandboxInfo> Runtime::Adopt(const SandboxInfo& info) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sandboxes_.count(info.id)) return AlreadyExists("sandbox " + info.id + " is already this runtime's");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<sandbox::Sandbox> sb, backend_->Adopt(info.id));
  auto entry = std::make_unique<Entry>();
  entry->info = info;
  entry->sandbox = std::move(sb);
  struct stat st {};
  bool socket_there = stat(info.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  if (entry->sandbox->Wait(0).ok() || !socket_there) {
    (void)Destroy(*entry);
    return NotFound("sandbox " + info.id + (socket_there ? " is no longer running" : " has lost its socket"));
  }
  entry->info.paused = entry->sandbox->paused();
  SandboxInfo adopted = entry->info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sandboxes_[adopted.id] = std::move(entry);
  }
  wake_.notify_all();
  return adopted;
}

Status Runtime::Reclaim(const std::string& id, const std::string& socket_path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sandboxes_.count(id)) return FailedPrecondition("sandbox " + id + " is this runtime's: Kill it");
  }
  std::string socket = socket_path.empty() ? socket_dir_ + "/" + id + ".sock" : socket_path;
  Result<std::unique_ptr<sandbox::Sandbox>> sb = backend_->Adopt(id);
  Status s = sb.ok() ? (*sb)->Destroy() : sb.status().code() == Code::kNotFound ? Status::Ok() : sb.status();
  if (unlink(socket.c_str()) != 0 && errno != ENOENT && s.ok())
    s = ErrnoStatus("unlink(" + socket + ")", errno);
  return s;
}

Result<Runtime::UsageSample> Runtime::Sample(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return NotFound("sandbox " + id + " not found");
  Entry& e = *it->second;
  KILN_ASSIGN_OR_RETURN(sandbox::Usage usage, e.sandbox->CurrentUsage());
  UsageSample sample{usage, WallMillis(), 0};
  int64_t since = e.sampled_at_ms ? e.sampled_at_ms : e.info.started_at_ms;
  int64_t cpu_since = e.sampled_at_ms ? e.sampled_cpu_ns : 0;
  if (sample.at_ms > since && usage.cpu_ns >= cpu_since)
    sample.cpu_share =
        static_cast<double>(usage.cpu_ns - cpu_since) / 1e6 / static_cast<double>(sample.at_ms - since);
  e.sampled_at_ms = sample.at_ms;
  e.sampled_cpu_ns = usage.cpu_ns;
  return sample;
}

// Kills sandboxes whose lifetime ended, and those whose init died on its own.
void Runtime::ReapLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    int64_t now = WallMillis(), next = now + 1000;
    std::vector<std::unique_ptr<Entry>> expired;
    for (auto it = sandboxes_.begin(); it != sandboxes_.end();) {
      int64_t end = it->second->info.end_at_ms;
      bool dead = it->second->sandbox->Wait(0).ok();
      if (dead || (end > 0 && end <= now)) {
        expired.push_back(std::move(it->second));
        it = sandboxes_.erase(it);
        continue;
      }
      if (end > 0) next = std::min(next, end);
      ++it;
    }
    lock.unlock();
    for (auto& entry : expired) (void)Destroy(*entry);
    lock.lock();
    if (!stopping_)
      wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, next - WallMillis())));
  }
}

}  // namespace kiln::runtime
