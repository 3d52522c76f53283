#include "kiln/envd/watch_service.h"

#include <algorithm>

#include "kiln/base/ids.h"
#include "kiln/envd/users.h"

namespace kiln::envd {
namespace {

// How often an idle stream checks whether its client went away.
constexpr int kClientCheckMs = 250;

}  // namespace

Result<std::unique_ptr<DirWatcher>> WatchService::Open(const Json& request, const Caller& caller,
                                                       bool* include_entry) {
  KILN_ASSIGN_OR_RETURN(std::string path, GetString(request, "path"));
  KILN_ASSIGN_OR_RETURN(std::string abs, FilesystemService::Resolve(path, caller));
  WatchOptions options;
  KILN_ASSIGN_OR_RETURN(options.recursive, GetBool(request, "recursive"));
  KILN_ASSIGN_OR_RETURN(options.allow_network_mounts,
                        GetBool(request, "allowNetworkMounts", "allow_network_mounts"));
  KILN_ASSIGN_OR_RETURN(*include_entry, GetBool(request, "includeEntry", "include_entry"));
  return DirWatcher::Create(*root_, abs, options);
}

Status WatchService::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_ >= config_->max_watchers)
    return ResourceExhausted("this sandbox already holds " + std::to_string(config_->max_watchers) +
                             " directory watches (the limit): stop one first");
  ++active_;
  return Status::Ok();
}

void WatchService::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  --active_;
}

void WatchService::RetireIdle() {
  const auto idle = std::chrono::milliseconds(config_->watcher_idle_timeout_ms);
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = polling_.begin(); it != polling_.end();) {
    std::unique_lock<std::mutex> busy(it->second->mu, std::try_to_lock);
    bool expired = busy.owns_lock() && now - it->second->last_used >= idle;
    if (busy.owns_lock()) busy.unlock();
    if (!expired) {
      ++it;
      continue;
    }
    it = polling_.erase(it);
    --active_;
  }
}

Json WatchService::EventsJson(const std::vector<WatchEvent>& events, const std::string& root_abs,
                              bool include_entry) const {
  Json out = Json::array();
  std::optional<UserDb> users;
  for (const WatchEvent& e : events) {
    std::optional<EntryInfo> entry;
    if (include_entry) {
      if (!users) users = UserDb::Load(*root_);
      // Gone by now (removed, renamed away): the event goes without an entry.
      auto info = files_->StatPath(JoinPath(root_abs, e.name), *users);
      if (info.ok()) entry = std::move(*info);
    }
    out.push_back(WatchEventJson(e, entry));
  }
  return out;
}

Status WatchService::WatchDir(const Json& request, const Caller& caller, const StreamOptions& options,
                              EventSink& sink) {
  RetireIdle();
  KILN_RETURN_IF_ERROR(Acquire());
  struct Slot {
    WatchService* s;
    ~Slot() { s->Release(); }
  } slot{this};
  bool include_entry = false;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<DirWatcher> watcher, Open(request, caller, &include_entry));
  if (!sink.Send({{"start", Json::object()}}).ok()) return Unavailable("the client disconnected");
  const auto keepalive_every = std::chrono::seconds(std::max(1, options.keepalive_seconds));
  Clock::time_point next_keepalive = Clock::now() + keepalive_every;
  std::optional<Clock::time_point> deadline;
  if (options.timeout_ms && *options.timeout_ms > 0)
    deadline = Clock::now() + std::chrono::milliseconds(*options.timeout_ms);
  for (;;) {
    KILN_ASSIGN_OR_RETURN(std::vector<WatchEvent> events, watcher->Read(kClientCheckMs));
    for (const Json& e : EventsJson(events, watcher->path(), include_entry)) {
      if (!sink.Send({{"filesystem", e}}).ok()) return Unavailable("the client disconnected");
    }
    Clock::time_point now = Clock::now();
    if (!events.empty()) next_keepalive = now + keepalive_every;
    if (deadline && now >= *deadline) return DeadlineExceeded("the watch reached its request deadline");
    if (now >= next_keepalive) {
      if (!sink.Send({{"keepalive", Json::object()}}).ok()) return Unavailable("the client disconnected");
      next_keepalive = now + keepalive_every;
    }
    if (events.empty() && sink.ClientGone()) return Unavailable("the client disconnected");
  }
}

Result<Json> WatchService::CreateWatcher(const Json& request, const Caller& caller) {
  RetireIdle();
  KILN_RETURN_IF_ERROR(Acquire());
  auto polling = std::make_shared<Polling>();
  auto watcher = Open(request, caller, &polling->include_entry);
  if (!watcher.ok()) {
    Release();
    return watcher.status();
  }
  polling->watcher = std::move(*watcher);
  polling->last_used = Clock::now();
  std::string id = RandomHex(16);
  std::lock_guard<std::mutex> lock(mu_);
  polling_[id] = std::move(polling);
  return Json{{"watcherId", id}};
}

Result<std::shared_ptr<WatchService::Polling>> WatchService::FindPolling(const Json& request) {
  KILN_ASSIGN_OR_RETURN(std::string id, GetString(request, "watcherId", "watcher_id"));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = polling_.find(id);
  if (it == polling_.end()) return NotFound("watcher '" + id + "' not found (removed, or idle too long)");
  return it->second;
}

Result<Json> WatchService::GetWatcherEvents(const Json& request) {
  RetireIdle();
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Polling> polling, FindPolling(request));
  std::lock_guard<std::mutex> lock(polling->mu);
  polling->last_used = Clock::now();
  KILN_ASSIGN_OR_RETURN(std::vector<WatchEvent> events, polling->watcher->Read(0));
  return Json{{"events", EventsJson(events, polling->watcher->path(), polling->include_entry)}};
}

Result<Json> WatchService::RemoveWatcher(const Json& request) {
  RetireIdle();
  KILN_ASSIGN_OR_RETURN(std::string id, GetString(request, "watcherId", "watcher_id"));
  std::lock_guard<std::mutex> lock(mu_);
  if (polling_.erase(id) == 0) return NotFound("watcher '" + id + "' not found (removed, or idle too long)");
  --active_;
  return Json::object();
}

}  // namespace kiln::envd
