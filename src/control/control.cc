#include "kiln/control/control.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/base/log.h"
#include "orphans.h"
#include "registry.h"

namespace kiln::control {
namespace {

int64_t NowMs() {
  return WallNanos() / 1'000'000;
}

Status MakeHome(const std::string& home) {
  if (home.empty()) return InvalidArgument("home directory: must not be empty");
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = home.find('/', pos + 1);
    std::string partial = home.substr(0, pos);
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      return ErrnoStatus("mkdir(" + partial + ")", errno);
  }
  return Status::Ok();
}

runtime::CreateOptions RuntimeOptions(const Template& tmpl, const CreateRequest& request, int64_t timeout_s) {
  runtime::CreateOptions o;
  o.spec.limits.timeout_ms = timeout_s * 1000;
  o.env_vars = request.env_vars;
  o.access_token = RandomHex(24);
  o.preload_python = tmpl.python_context;
  // Until the runtime can re-adopt sandboxes after a restart, one whose server died must not run on
  // unsupervised (its lifetime no longer enforced): the kernel kills it with the creating thread, which is
  // the caller's (the server's workers live as long as the server). KillOrphan remains the safety net.
  o.die_with_owner = true;
  return o;
}

bool Matches(const SandboxRecord& r, const ListRequest& q) {
  for (const auto& [key, value] : q.metadata) {
    auto it = r.metadata.find(key);
    if (it == r.metadata.end() || it->second != value) return false;
  }
  if (!q.states.empty() && std::find(q.states.begin(), q.states.end(), r.state) == q.states.end())
    return false;
  if (!q.template_id.empty() && r.template_id != q.template_id) return false;
  return r.started_ms >= q.started_after_ms;
}

// The page cursor names the last record returned: "<started_ms>.<id>". Opaque to clients.
std::string Cursor(const SandboxRecord& r) {
  return std::to_string(r.started_ms) + "." + r.id;
}

// Whether `r` comes strictly after the cursor in the listing's order.
Result<bool> AfterCursor(const SandboxRecord& r, const std::string& cursor, bool ascending) {
  size_t dot = cursor.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 18 || cursor.find_first_not_of("0123456789") != dot)
    return InvalidArgument("nextToken: not a token this server issued");
  std::pair<int64_t, std::string> key(std::stoll(cursor.substr(0, dot)), cursor.substr(dot + 1));
  auto mine = std::make_pair(r.started_ms, r.id);
  return ascending ? mine > key : mine < key;
}

Result<UniqueFd> LockHome(const std::string& home) {
  std::string path = home + "/serve.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus("open(" + path + ")", errno);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return FailedPrecondition("another kiln server uses the home directory " + home);
    return ErrnoStatus("flock(" + path + ")", errno);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Control>> Control::Open(ControlOptions options) {
  KILN_RETURN_IF_ERROR(MakeHome(options.home));
  KILN_ASSIGN_OR_RETURN(UniqueFd lock, LockHome(options.home));
  KILN_ASSIGN_OR_RETURN(auto db, Database::Open(options.home + "/kiln.db"));
  KILN_ASSIGN_OR_RETURN(auto rt, runtime::Runtime::Create(options.socket_dir));
  // A fresh runtime runs nothing: what the registry still calls live belonged to a previous server.
  KILN_ASSIGN_OR_RETURN(auto stale, registry::ListLive(*db, ""));
  for (const SandboxRecord& r : stale) {
    Status killed = KillOrphan(rt->capabilities(), r.id, r.socket_path);
    if (!killed.ok()) log::Warn("cannot kill an orphaned sandbox: " + killed.ToString());
    KILN_RETURN_IF_ERROR(registry::MarkEnded(*db, r.id, NowMs(), "server restarted"));
  }
  return std::unique_ptr<Control>(
      new Control(std::move(options), std::move(lock), std::move(db), std::move(rt)));
}

Control::Control(ControlOptions options, UniqueFd lock, std::unique_ptr<Database> db,
                 std::unique_ptr<runtime::Runtime> rt)
    : options_(std::move(options)),
      home_lock_(std::move(lock)),
      db_(std::move(db)),
      keys_(db_.get()),
      runtime_(std::move(rt)) {}

Control::~Control() {
  // Kill while the database is still open, so that the registry records why they ended.
  for (const runtime::SandboxInfo& info : runtime_->List()) {
    if (runtime_->Kill(info.id).ok()) (void)registry::MarkEnded(*db_, info.id, NowMs(), "server stopped");
  }
  runtime_.reset();
}

// A record the registry calls live but the runtime no longer runs has ended: say so, and why.
Status Control::Reconcile(SandboxRecord& record) {
  if (record.state == "ended" || runtime_->Get(record.id).ok()) return Status::Ok();
  int64_t now = NowMs();
  record.state = "ended";
  record.ended_ms = now;
  record.end_reason = record.end_ms <= now ? "expired" : "exited";
  return registry::MarkEnded(*db_, record.id, now, record.end_reason);
}

Result<SandboxRecord> Control::Visible(const Principal& caller, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(std::optional<SandboxRecord> found, registry::Find(*db_, id));
  if (!found || (!caller.admin && found->owner != caller.key_id))
    return NotFound("sandbox '" + id + "' not found");
  KILN_RETURN_IF_ERROR(Reconcile(*found));
  if (found->state == "ended")
    return NotFound("sandbox '" + id + "' not found (it ended: " + found->end_reason + ")");
  return std::move(*found);
}

Status Control::CheckLifetime(const SandboxRecord& record, int64_t end_ms) const {
  if (end_ms - record.started_ms <= options_.max_lifetime_s * 1000) return Status::Ok();
  return InvalidArgument("timeout: the sandbox would live past the maximum lifetime of " +
                         std::to_string(options_.max_lifetime_s) + " s");
}

// Counts what runs (after reconciling) plus creations under way, under quota_mu_ so that two concurrent
// creates cannot both take the last slot.
Status Control::Reserve(const Principal& caller) {
  std::lock_guard<std::mutex> lock(quota_mu_);
  KILN_ASSIGN_OR_RETURN(std::vector<SandboxRecord> live, registry::ListLive(*db_, ""));
  int64_t total = 0, mine = 0;
  for (SandboxRecord& r : live) {
    KILN_RETURN_IF_ERROR(Reconcile(r));
    if (r.state == "ended") continue;
    ++total;
    if (r.owner == caller.key_id) ++mine;
  }
  for (const auto& [key, n] : starting_) {
    total += n;
    if (key == caller.key_id) mine += n;
  }
  if (total >= options_.max_sandboxes_total)
    return ResourceExhausted("this server runs its maximum of " +
                             std::to_string(options_.max_sandboxes_total) + " concurrent sandboxes");
  if (mine >= options_.max_sandboxes_per_key)
    return ResourceExhausted("API key " + caller.key_id + " runs its maximum of " +
                             std::to_string(options_.max_sandboxes_per_key) + " concurrent sandboxes");
  ++starting_[caller.key_id];
  return Status::Ok();
}

void Control::Unreserve(const Principal& caller) {
  std::lock_guard<std::mutex> lock(quota_mu_);
  if (--starting_[caller.key_id] == 0) starting_.erase(caller.key_id);
}

Result<SandboxRecord> Control::Create(const Principal& caller, const CreateRequest& request) {
  KILN_ASSIGN_OR_RETURN(Template tmpl, FindTemplate(request.template_id));
  int64_t timeout_s = request.timeout_s.value_or(options_.default_timeout_s);
  if (timeout_s <= 0) return InvalidArgument("timeout: must be a positive number of seconds");
  if (timeout_s > options_.max_lifetime_s)
    return InvalidArgument("timeout: " + std::to_string(timeout_s) + " s is past the maximum lifetime of " +
                           std::to_string(options_.max_lifetime_s) + " s");
  KILN_RETURN_IF_ERROR(Reserve(caller));
  Result<SandboxRecord> started = Start(caller, request, tmpl);
  Unreserve(caller);
  return started;
}

Result<SandboxRecord> Control::Start(const Principal& caller, const CreateRequest& request,
                                     const Template& tmpl) {
  int64_t timeout_s = request.timeout_s.value_or(options_.default_timeout_s);
  runtime::CreateOptions create = RuntimeOptions(tmpl, request, timeout_s);
  KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime_->CreateSandbox(create));
  const sandbox::Limits& limits = create.spec.limits;
  SandboxRecord r;
  r.id = info.id;
  r.owner = caller.key_id;
  r.template_id = tmpl.id;
  r.metadata = request.metadata;
  r.env_vars = request.env_vars;
  r.access_token = info.access_token;
  r.socket_path = info.socket_path;
  r.cpu_count = static_cast<int64_t>(std::ceil(limits.cpus));
  r.memory_mb = limits.memory_bytes >> 20;
  r.disk_mb = limits.tmpfs_home_bytes >> 20;
  r.started_ms = info.started_at_ms;
  r.end_ms = info.end_at_ms;
  r.state = "running";
  Status stored = registry::Insert(*db_, r);
  if (!stored.ok()) {
    // Never run a sandbox the registry does not know about.
    (void)runtime_->Kill(info.id);
    return stored;
  }
  return r;
}

Result<ListPage> Control::List(const Principal& caller, const ListRequest& request) {
  if (request.limit < 1 || request.limit > 100) return InvalidArgument("limit: must be between 1 and 100");
  KILN_ASSIGN_OR_RETURN(std::vector<SandboxRecord> live,
                        registry::ListLive(*db_, caller.admin ? "" : caller.key_id));
  if (!request.next_token.empty()) {
    // Checked here too, so that a bad token is refused even when there is nothing to page through.
    KILN_RETURN_IF_ERROR(AfterCursor(SandboxRecord{}, request.next_token, request.ascending).status());
  }
  std::vector<SandboxRecord> selected;
  for (SandboxRecord& r : live) {
    KILN_RETURN_IF_ERROR(Reconcile(r));
    if (r.state == "ended" || !Matches(r, request)) continue;
    if (!request.next_token.empty()) {
      KILN_ASSIGN_OR_RETURN(bool after, AfterCursor(r, request.next_token, request.ascending));
      if (!after) continue;
    }
    selected.push_back(std::move(r));
  }
  auto order = [&](const SandboxRecord& a, const SandboxRecord& b) {
    auto ka = std::make_pair(a.started_ms, a.id), kb = std::make_pair(b.started_ms, b.id);
    return request.ascending ? ka < kb : kb < ka;
  };
  std::sort(selected.begin(), selected.end(), order);
  ListPage page;
  if (selected.size() > static_cast<size_t>(request.limit)) {
    selected.resize(request.limit);
    page.next_token = Cursor(selected.back());
  }
  page.sandboxes = std::move(selected);
  return page;
}

Result<SandboxRecord> Control::Get(const Principal& caller, const std::string& id) {
  return Visible(caller, id);
}

Status Control::Kill(const Principal& caller, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  Status killed = runtime_->Kill(id);
  // NotFound: it ended between the two calls; either way it is gone now.
  if (!killed.ok() && killed.code() != Code::kNotFound) return killed;
  KILN_RETURN_IF_ERROR(registry::MarkEnded(*db_, id, NowMs(), "killed"));
  if (!killed.ok()) return NotFound("sandbox '" + id + "' not found");
  return Status::Ok();
}

Status Control::UpdateEnd(SandboxRecord& record, int64_t end_ms) {
  KILN_RETURN_IF_ERROR(CheckLifetime(record, end_ms));
  KILN_RETURN_IF_ERROR(runtime_->SetTimeout(record.id, std::max<int64_t>(end_ms - NowMs(), 1)));
  record.end_ms = end_ms;
  return registry::SetEnd(*db_, record.id, end_ms);
}

Status Control::SetTimeout(const Principal& caller, const std::string& id, int64_t timeout_s) {
  if (timeout_s <= 0) return InvalidArgument("timeout: must be a positive number of seconds");
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  return UpdateEnd(record, NowMs() + timeout_s * 1000);
}

Result<SandboxRecord> Control::Connect(const Principal& caller, const std::string& id,
                                       std::optional<int64_t> timeout_s) {
  int64_t seconds = timeout_s.value_or(options_.default_timeout_s);
  if (seconds <= 0) return InvalidArgument("timeout: must be a positive number of seconds");
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  int64_t wanted = NowMs() + seconds * 1000;
  if (wanted > record.end_ms) {
    // Extending up to the maximum lifetime, not failing, is what a reconnecting client needs.
    wanted = std::min(wanted, record.started_ms + options_.max_lifetime_s * 1000);
    if (wanted > record.end_ms) KILN_RETURN_IF_ERROR(UpdateEnd(record, wanted));
  }
  return record;
}

int64_t Control::RunningCount() const {
  return static_cast<int64_t>(runtime_->List().size());
}

Result<Route> Control::Resolve(const std::string& id) const {
  KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime_->Get(id));
  return Route{info.socket_path, info.access_token};
}

}  // namespace kiln::control
