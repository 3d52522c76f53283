// Directory watching on inotify (E2B `WatchDir` and the polling watchers), one inotify instance per watch.
//
// Events follow Go fsnotify's mapping, as E2B's envd reports them: IN_CREATE/IN_MOVED_TO -> CREATE,
// IN_MODIFY -> WRITE, IN_DELETE -> REMOVE, IN_MOVED_FROM -> RENAME, IN_ATTRIB -> CHMOD; one inotify event
// with several of these becomes several events. Names are relative to the watched directory ("a/b.txt" in a
// recursive watch). A recursive watch adds every directory below the root at start and each directory
// created or moved in later; symlinks are never followed below the root.
//
// Thread-safety: a DirWatcher is used by one thread at a time.
#pragma once

#include <sys/inotify.h>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/envd/entry_info.h"
#include "kiln/envd/json_util.h"
#include "kiln/envd/paths.h"

namespace kiln::envd {

// filesystem.EventType; values are the proto numbers.
enum class WatchEventType { kCreate = 1, kWrite = 2, kRemove = 3, kRename = 4, kChmod = 5 };

struct WatchEvent {
  std::string name;  // relative to the watched directory
  WatchEventType type = WatchEventType::kCreate;
};

// {"name","type":"EVENT_TYPE_CREATE"} (plus "entry" when given).
Json WatchEventJson(const WatchEvent& event, const std::optional<EntryInfo>& entry);

struct WatchOptions {
  bool recursive = false;
  bool allow_network_mounts = false;
  size_t max_directories = 4096;  // inotify watches of one recursive watch; past it -> ResourceExhausted
};

class DirWatcher {
 public:
  // Watches `abs` (a clean absolute path inside `root`). Missing -> NotFound "path '<abs>' does not exist";
  // not a directory, or on procfs/sysfs (which produce no events), or a network filesystem without
  // allow_network_mounts -> InvalidArgument; too many directories -> ResourceExhausted.
  static Result<std::unique_ptr<DirWatcher>> Create(const RootFs& root, const std::string& abs,
                                                    const WatchOptions& options);

  // Waits up to `timeout_ms` (0: no wait) for events and returns what arrived (possibly nothing).
  Result<std::vector<WatchEvent>> Read(int timeout_ms);

  const std::string& path() const { return abs_; }

 private:
  DirWatcher(const RootFs& root, std::string abs, WatchOptions options, UniqueFd inotify)
      : root_(root), abs_(std::move(abs)), options_(options), inotify_(std::move(inotify)) {}
  // Adds a watch on `rel` ("" is the root) and, for a recursive watch, on every directory below it.
  Status AddTree(const std::string& rel);
  Status AddOne(const std::string& rel, int dir_fd);
  void Translate(const struct inotify_event& ev, std::vector<WatchEvent>* out);

  const RootFs& root_;
  const std::string abs_;
  const WatchOptions options_;
  UniqueFd inotify_;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory relative to the root ("" for it)
};

}  // namespace kiln::envd
