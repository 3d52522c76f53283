#include "kiln/control/control.h"
#include "kiln/client/envd_client.h"
#include "kiln/template/ready.h"
#include "kiln/template/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/base/log.h"
#include "registry.h"
#include "sandbox_pool.h"

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

runtime::CreateOptions RuntimeOptions(const Template& tmpl, const CreateRequest& request, int64_t timeout_s,
                                      bool default_internet_access) {
  runtime::CreateOptions o;
  o.spec.network = request.allow_internet_access.value_or(default_internet_access);
  o.spec.network_rules = request.network_rules;
  o.spec.limits.timeout_ms = timeout_s * 1000;
  o.env_vars = request.env_vars;
  o.access_token = RandomHex(24);
  o.preload_python = tmpl.python_context;
  if (!tmpl.built) {  // a built-in's file may set its limits (templates/NAME/Dockerfile); built ones:
                      // ApplyTemplate
    o.spec.limits.cpus = static_cast<double>(tmpl.cpu_count);
    o.spec.limits.memory_bytes = tmpl.memory_mb << 20;
    o.spec.limits.tmpfs_home_bytes = tmpl.disk_mb << 20;
  }
  // Not die_with_owner: a sandbox outlives a server killed by SIGKILL, and the next one re-adopts it.
  o.id = RandomId();
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

// A live record of a previous server process: its sandbox is taken over when it still runs within its
// lifetime; otherwise what is left of it is removed and the record says why it ended. A record still
// "starting" was never acknowledged to its client.
// An autoPause sandbox is held until `max_end_ms` (the auto-pause thread pauses it when its timeout ends).
Status Readopt(Database& db, runtime::Runtime& rt, const SandboxRecord& r, int64_t max_end_ms) {
  int64_t now = NowMs();
  std::string reason;
  int64_t runtime_end = r.auto_pause ? max_end_ms : r.end_ms;
  if (r.state == "starting" || r.state == "pooled") {
    // A pooled sandbox is nobody's: the new server fills its own pool.
    reason = r.state == "pooled" ? "pooled, unused" : "server restarted";
  } else if (runtime_end <= now) {
    reason = "expired";
  } else {
    runtime::SandboxInfo info{r.id, r.socket_path, r.access_token, r.started_ms, runtime_end};
    Result<runtime::SandboxInfo> adopted = rt.Adopt(info);
    if (adopted.ok()) {
      std::string state = adopted->paused ? "paused" : "running";
      return state == r.state ? Status::Ok() : registry::SetState(db, r.id, state);
    }
    log::Warn("cannot re-adopt sandbox " + r.id + ": " + adopted.status().ToString());
    reason = adopted.status().code() == Code::kNotFound ? "exited" : "server restarted";
  }
  Status reclaimed = rt.Reclaim(r.id, r.socket_path);
  if (!reclaimed.ok())
    log::Warn("cannot remove what is left of sandbox " + r.id + ": " + reclaimed.ToString());
  return registry::MarkEnded(db, r.id, now, reason);
}

}  // namespace

Result<std::unique_ptr<Control>> Control::Open(ControlOptions options) {
  KILN_RETURN_IF_ERROR(MakeHome(options.home));
  KILN_ASSIGN_OR_RETURN(UniqueFd lock, LockHome(options.home));
  KILN_ASSIGN_OR_RETURN(auto db, Database::Open(options.home + "/kiln.db"));
  KILN_ASSIGN_OR_RETURN(auto rt, runtime::Runtime::Create(options.socket_dir));
  // A fresh runtime runs nothing: what the registry still calls live belonged to a previous server.
  KILN_ASSIGN_OR_RETURN(auto stale, registry::ListLive(*db, ""));
  for (const SandboxRecord& r : stale)
    KILN_RETURN_IF_ERROR(Readopt(*db, *rt, r, r.started_ms + options.max_lifetime_s * 1000));
  for (const auto& [template_id, size] : options.pool_sizes) {
    if (size < 0) return InvalidArgument("pool size of '" + template_id + "': must not be negative");
    Result<Template> known = FindTemplate(template_id, options.home);
    if (!known.ok()) return InvalidArgument("pool: " + known.status().message());
  }
  std::unique_ptr<Control> control(
      new Control(std::move(options), std::move(lock), std::move(db), std::move(rt)));
  Control* self = control.get();
  control->pool_ = std::make_unique<SandboxPool>(
      control->options_.pool_sizes, [self](const std::string& id) { return self->MakePooled(id); });
  return control;
}

Control::Control(ControlOptions options, UniqueFd lock, std::unique_ptr<Database> db,
                 std::unique_ptr<runtime::Runtime> rt)
    : options_(std::move(options)),
      home_lock_(std::move(lock)),
      db_(std::move(db)),
      keys_(db_.get()),
      runtime_(std::move(rt)),
      pauser_([this] { Housekeep(); }) {}

Control::~Control() {
  {
    std::lock_guard<std::mutex> lock(pauser_mu_);
    stopping_ = true;
  }
  pauser_wake_.notify_all();
  pauser_.join();
  if (pool_) pool_->Stop();
  // Kill while the database is still open, so that the registry records why they ended.
  for (const runtime::SandboxInfo& info : runtime_->List()) {
    if (runtime_->Kill(info.id).ok()) (void)registry::MarkEnded(*db_, info.id, NowMs(), "server stopped");
  }
  runtime_.reset();
}

// A record the registry calls live but the runtime no longer runs has ended: say so, and why.
Status Control::Reconcile(SandboxRecord& record) {
  // "starting": a create of this process is launching it; "pooled": the pool checks when it is claimed.
  if (record.state == "ended" || record.state == "starting" || record.state == "pooled" ||
      runtime_->Get(record.id).ok())
    return Status::Ok();
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
  if (found->state == "starting") return NotFound("sandbox '" + id + "' not found (it is starting)");
  if (found->state == "pooled") return NotFound("sandbox '" + id + "' not found");
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
    // starting: counted in starting_; pooled: nobody's
    if (r.state == "ended" || r.state == "starting" || r.state == "pooled") continue;
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
  KILN_ASSIGN_OR_RETURN(Template tmpl, FindTemplate(request.template_id, options_.home));
  int64_t timeout_s = request.timeout_s.value_or(options_.default_timeout_s);
  KILN_RETURN_IF_ERROR(CheckTimeout(timeout_s));
  sandbox::SandboxSpec rules_only;  // a bad CIDR is the client's error, named before anything starts
  rules_only.network_rules = request.network_rules;
  KILN_RETURN_IF_ERROR(rules_only.Validate());
  KILN_RETURN_IF_ERROR(Reserve(caller));
  std::optional<SandboxRecord> pooled = FromPool(caller, request, tmpl);
  Result<SandboxRecord> started =
      pooled ? Result<SandboxRecord>(std::move(*pooled)) : Start(caller, request, tmpl);
  Unreserve(caller);
  return started;
}

Result<SandboxRecord> Control::Start(const Principal& caller, const CreateRequest& request,
                                     const Template& tmpl, bool for_pool) {
  int64_t timeout_s = request.timeout_s.value_or(options_.default_timeout_s);
  // An autoPause sandbox must outlive its timeout: the runtime holds it for the maximum lifetime. A pooled
  // one has no lifetime until it is claimed.
  int64_t runtime_s = for_pool ? 0 : request.auto_pause ? options_.max_lifetime_s : timeout_s;
  runtime::CreateOptions create = RuntimeOptions(tmpl, request, runtime_s, options_.default_internet_access);
  tmpl::TemplateInfo built;
  if (tmpl.built) {
    KILN_ASSIGN_OR_RETURN(built, tmpl::TemplateStore(options_.home).Get(tmpl.id));
    KILN_RETURN_IF_ERROR(tmpl::ApplyTemplate(built, create.spec));
    create.default_user = built.user;
  }
  const sandbox::Limits& limits = create.spec.limits;
  SandboxRecord r;
  r.id = create.id;
  r.owner = for_pool ? "" : caller.key_id;
  r.template_id = tmpl.id;
  r.metadata = request.metadata;
  r.env_vars = request.env_vars;
  r.access_token = create.access_token;
  r.cpu_count = static_cast<int64_t>(std::ceil(limits.cpus));
  r.memory_mb = limits.memory_bytes >> 20;
  r.disk_mb = limits.tmpfs_home_bytes >> 20;
  r.started_ms = NowMs();
  r.state = "starting";
  r.auto_pause = request.auto_pause;
  // Registered before it launches: a server killed mid-launch leaves a record the next one cleans up after,
  // never a sandbox the registry does not know about.
  KILN_RETURN_IF_ERROR(registry::Insert(*db_, r));
  Result<runtime::SandboxInfo> info = runtime_->CreateSandbox(create);
  if (!info.ok()) {
    (void)registry::MarkEnded(*db_, r.id, NowMs(), "failed to start");
    return info.status();
  }
  // A template's start command runs now; the create is answered once its ready command passes.
  Status ready = tmpl::StartAndAwaitReady(built, client::EnvdClient(info->socket_path, create.access_token));
  if (!ready.ok()) {
    (void)runtime_->Kill(info->id);
    (void)registry::MarkEnded(*db_, r.id, NowMs(), "not ready");
    return ready;
  }
  r.socket_path = info->socket_path;
  r.started_ms = info->started_at_ms;
  r.end_ms = request.auto_pause ? info->started_at_ms + timeout_s * 1000 : info->end_at_ms;
  r.state = for_pool ? "pooled" : "running";
  Status stored = registry::MarkRunning(*db_, r);
  if (!stored.ok()) {
    (void)runtime_->Kill(info->id);
    (void)registry::MarkEnded(*db_, r.id, NowMs(), "failed to start");
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
    if ((r.state != "running" && r.state != "paused") || !Matches(r, request)) continue;
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

int64_t Control::MaxEnd(const SandboxRecord& record) const {
  return record.started_ms + options_.max_lifetime_s * 1000;
}

Status Control::UpdateEnd(SandboxRecord& record, int64_t end_ms) {
  KILN_RETURN_IF_ERROR(CheckLifetime(record, end_ms));
  int64_t runtime_end = record.auto_pause ? MaxEnd(record) : end_ms;
  KILN_RETURN_IF_ERROR(runtime_->SetTimeout(record.id, std::max<int64_t>(runtime_end - NowMs(), 1)));
  record.end_ms = end_ms;
  return registry::SetEnd(*db_, record.id, end_ms);
}

// Checked before any arithmetic on it: a client's 2^62 seconds times 1000 would overflow.
Status Control::CheckTimeout(int64_t timeout_s) const {
  if (timeout_s <= 0) return InvalidArgument("timeout: must be a positive number of seconds");
  if (timeout_s > options_.max_lifetime_s)
    return InvalidArgument("timeout: " + std::to_string(timeout_s) + " s is past the maximum lifetime of " +
                           std::to_string(options_.max_lifetime_s) + " s");
  return Status::Ok();
}

Status Control::SetTimeout(const Principal& caller, const std::string& id, int64_t timeout_s) {
  KILN_RETURN_IF_ERROR(CheckTimeout(timeout_s));
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  return UpdateEnd(record, NowMs() + timeout_s * 1000);
}

Status Control::Pause(const Principal& caller, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  if (record.state == "paused") return FailedPrecondition("sandbox '" + id + "' is already paused");
  return PauseRecord(record);
}

Status Control::PauseRecord(const SandboxRecord& record) {
  const std::string& id = record.id;
  KILN_RETURN_IF_ERROR(runtime_->SetPaused(id, true));
  // A paused sandbox waits for its connect until its maximum lifetime, not its timeout (E2B's paused
  // sandboxes do not time out).
  int64_t until = MaxEnd(record);
  Status held = runtime_->SetTimeout(id, std::max<int64_t>(until - NowMs(), 1));
  if (held.ok()) held = registry::SetEnd(*db_, id, until);
  if (held.ok()) held = registry::SetState(*db_, id, "paused");
  if (!held.ok()) (void)runtime_->SetPaused(id, false);
  return held;
}

Result<SandboxRecord> Control::Connect(const Principal& caller, const std::string& id,
                                       std::optional<int64_t> timeout_s, bool* resumed) {
  if (resumed) *resumed = false;
  // Extending up to the maximum lifetime, not failing, is what a reconnecting client needs (and the clamp
  // keeps a huge client value from overflowing below).
  int64_t seconds = std::min(timeout_s.value_or(options_.default_timeout_s), options_.max_lifetime_s);
  if (seconds <= 0) return InvalidArgument("timeout: must be a positive number of seconds");
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  int64_t max_end = record.started_ms + options_.max_lifetime_s * 1000;
  int64_t wanted = std::min(NowMs() + seconds * 1000, max_end);
  if (record.state == "paused") {
    KILN_RETURN_IF_ERROR(runtime_->SetPaused(id, false));
    KILN_RETURN_IF_ERROR(registry::SetState(*db_, id, "running"));
    record.state = "running";
    if (resumed) *resumed = true;
    KILN_RETURN_IF_ERROR(UpdateEnd(record, wanted));  // the pause's hold is replaced by the timeout
    return record;
  }
  if (wanted > record.end_ms) KILN_RETURN_IF_ERROR(UpdateEnd(record, wanted));
  return record;
}

Result<SandboxMetric> Control::Metrics(const Principal& caller, const std::string& id) {
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  KILN_ASSIGN_OR_RETURN(runtime::Runtime::UsageSample sample, runtime_->Sample(id));
  SandboxMetric m;
  m.at_ms = sample.at_ms;
  m.started_ms = record.started_ms;
  m.cpu_count = std::max<int64_t>(record.cpu_count, 1);
  m.cpu_used_pct = 100.0 * sample.cpu_share / static_cast<double>(m.cpu_count);
  m.usage = sample.usage;
  return m;
}

void Control::Housekeep() {
  std::unique_lock<std::mutex> lock(pauser_mu_);
  while (!pauser_wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; })) {
    lock.unlock();
    PauseWhenDue();
    PruneEnded();
    lock.lock();
  }
}

void Control::PauseWhenDue() {
  Result<std::vector<SandboxRecord>> live = registry::ListLive(*db_, "");
  int64_t now = NowMs();
  for (const SandboxRecord& r : live.ok() ? *live : std::vector<SandboxRecord>{}) {
    if (!r.auto_pause || r.state != "running" || r.end_ms > now) continue;
    // Read again: a Connect since the listing may have extended it.
    Result<std::optional<SandboxRecord>> current = registry::Find(*db_, r.id);
    if (!current.ok() || !*current || (*current)->state != "running" || (*current)->end_ms > NowMs())
      continue;
    Status paused = PauseRecord(**current);
    if (paused.ok())
      log::Info("sandbox " + r.id + " paused: its timeout ended (autoPause)");
    else if (paused.code() != Code::kNotFound)
      log::Warn("cannot auto-pause sandbox " + r.id + ": " + paused.ToString());
  }
}

void Control::PruneEnded() {
  int64_t now = NowMs();
  int64_t retain_ms = std::max<int64_t>(options_.retain_ended_s, 0) * 1000;
  int64_t every_ms = std::clamp<int64_t>(retain_ms / 4, 250, 60'000);
  if (now - pruned_at_ms_ < every_ms) return;
  pruned_at_ms_ = now;
  Status pruned = registry::DeleteEndedBefore(*db_, now - retain_ms);
  if (!pruned.ok()) log::Warn("cannot prune ended sandboxes: " + pruned.ToString());
}

Control::StateCounts Control::CountByState() const {
  StateCounts counts;
  for (const runtime::SandboxInfo& info : runtime_->List()) {
    if (pool_ && pool_->Holds(info.id)) continue;
    ++(info.paused ? counts.paused : counts.running);
  }
  return counts;
}

Result<Route> Control::Resolve(const std::string& id) const {
  if (pool_ && pool_->Holds(id)) return NotFound("sandbox " + id + " is nobody's yet (pooled)");
  KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime_->Get(id));
  if (info.paused) return NotFound("sandbox " + id + " is paused");
  return Route{info.socket_path, info.access_token};
}

}  // namespace kiln::control
