// The filesystem service (E2B `filesystem.Filesystem`) and the file transfer core behind REST /files.
// Transport-independent: methods take the parsed JSON request and the resolved caller and return the JSON
// response or a Status whose code is the Connect error code.
//
// Every path is resolved inside the RootFs (see paths.h). Relative paths and "~" resolve against the
// caller's home. Thread-safe: the service holds no mutable state (the RootFs is shared read-only).
#pragma once

#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/envd/config.h"
#include "kiln/envd/entry_info.h"
#include "kiln/envd/json_util.h"
#include "kiln/envd/paths.h"

namespace kiln::envd {

class FilesystemService {
 public:
  // `root` must outlive the service.
  explicit FilesystemService(const RootFs* root) : root_(root) {}

  // {path} -> {entry}. lstat semantics: a symlink is reported as itself, with symlinkTarget.
  // Missing -> NotFound.
  Result<Json> Stat(const Json& request, const Caller& caller) const;
  // {path, depth} -> {entries}: everything below path up to depth levels (depth < 1 counts as 1),
  // depth-first pre-order with names sorted bytewise, symlinks not followed (a symlinked `path` is).
  // Missing -> NotFound; not a directory -> InvalidArgument.
  Result<Json> ListDir(const Json& request, const Caller& caller) const;
  // {path} -> {entry}: mkdir -p (0755, new dirs chowned to the caller). Already a directory ->
  // AlreadyExists; a component is not a directory -> InvalidArgument.
  Result<Json> MakeDir(const Json& request, const Caller& caller) const;
  // {source, destination} -> {entry of destination}. Creates the destination's parents. Missing source ->
  // NotFound.
  Result<Json> Move(const Json& request, const Caller& caller) const;
  // {path} -> {}: rm -rf; a missing path is not an error. Removing "/" is refused (InvalidArgument).
  Result<Json> Remove(const Json& request, const Caller& caller) const;

  // A file opened for streaming (see file_io.cc).
  struct OpenFile {
    UniqueFd fd;
    std::string abs;
    uint64_t size = 0;  // OpenForRead: the size fstat gave at open time
  };
  // Opens the regular file at `path` for reading. Missing -> NotFound "path '<abs>' does not exist"; a
  // directory, device, FIFO or socket -> InvalidArgument (reading one could block forever or never end).
  Result<OpenFile> OpenForRead(std::string_view path, const Caller& caller) const;
  // Creates parents, then creates or truncates the regular file at `path`, owned by the caller. A path
  // ending in '/', a directory, device, FIFO or socket -> InvalidArgument (never blocks on a FIFO).
  Result<OpenFile> OpenForWrite(std::string_view path, const Caller& caller) const;
  // Writes all of `data` to an OpenForWrite file. No space -> ResourceExhausted.
  static Status WriteAll(const OpenFile& file, std::string_view data);

  // The whole content of the file at `path` (OpenForRead's errors; over 64 MiB -> ResourceExhausted: use
  // OpenForRead and stream instead).
  Result<std::string> ReadFile(std::string_view path, const Caller& caller) const;
  // OpenForWrite, then writes `data`.
  // Returns {"path":abs,"name":base,"type":"file"}. No space -> ResourceExhausted.
  Result<Json> WriteFile(std::string_view path, std::string_view data, const Caller& caller) const;

  // The absolute path a request's `path` names for this caller (see ResolveUserPath).
  static Result<std::string> Resolve(std::string_view path, const Caller& caller);
  // lstat of `abs` inside the root as an EntryInfo (symlinkTarget filled). Missing -> NotFound.
  Result<EntryInfo> StatPath(const std::string& abs, const UserDb& users) const;

 private:
  const RootFs* root_;
};

}  // namespace kiln::envd
