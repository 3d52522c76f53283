// The watching half of E2B's `filesystem.Filesystem`: WatchDir (server stream) and the polling watchers
// (CreateWatcher, GetWatcherEvents, RemoveWatcher), on DirWatcher (watcher.h).
//
// Requests: {path, recursive?, includeEntry?, allowNetworkMounts?}. A WatchDir stream sends {"start":{}},
// then {"filesystem":{name,type,entry?}} per event and {"keepalive":{}} when idle; its watch ends with the
// stream (client gone, or the Connect-Timeout-Ms deadline: deadline_exceeded). A polling watcher lives until
// RemoveWatcher or until no GetWatcherEvents came for EnvdConfig::watcher_idle_timeout_ms; its events wait
// in the kernel's inotify queue meanwhile. Streams and polling watchers together are bounded by
// EnvdConfig::max_watchers (resource_exhausted past it). Expired polling watchers are retired at every
// watcher call, before the bound is checked, so they never hold a slot a new watch needs.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kiln/base/status.h"
#include "kiln/envd/config.h"
#include "kiln/envd/filesystem_service.h"
#include "kiln/envd/process_service.h"
#include "kiln/envd/watcher.h"

namespace kiln::envd {

class WatchService {
 public:
  // All pointers must outlive the service.
  WatchService(const RootFs* root, const EnvdConfig* config, const FilesystemService* files)
      : root_(root), config_(config), files_(files) {}

  Status WatchDir(const Json& request, const Caller& caller, const StreamOptions& options, EventSink& sink);
  // -> {watcherId}
  Result<Json> CreateWatcher(const Json& request, const Caller& caller);
  // {watcherId} -> {events:[...]}: what happened since the last call. Unknown id -> NotFound.
  Result<Json> GetWatcherEvents(const Json& request);
  // {watcherId} -> {}. Unknown id -> NotFound.
  Result<Json> RemoveWatcher(const Json& request);

 private:
  using Clock = std::chrono::steady_clock;
  struct Polling {
    std::mutex mu;  // one reader at a time
    std::unique_ptr<DirWatcher> watcher;
    bool include_entry = false;
    Clock::time_point last_used;
  };
  // Parses the request and starts a watcher; *include_entry receives the request's flag.
  Result<std::unique_ptr<DirWatcher>> Open(const Json& request, const Caller& caller, bool* include_entry);
  // Takes a slot of max_watchers (ResourceExhausted when none is left) / gives it back.
  Status Acquire();
  void Release();
  void RetireIdle();
  Result<std::shared_ptr<Polling>> FindPolling(const Json& request);
  Json EventsJson(const std::vector<WatchEvent>& events, const std::string& root_abs,
                  bool include_entry) const;

  const RootFs* root_;
  const EnvdConfig* config_;
  const FilesystemService* files_;
  std::mutex mu_;
  size_t active_ = 0;  // streams and polling watchers
  std::map<std::string, std::shared_ptr<Polling>> polling_;
};

}  // namespace kiln::envd
