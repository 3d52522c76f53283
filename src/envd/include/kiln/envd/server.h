// The envd server: configuration, confinement root, process table, services and the HTTP route table,
// wired together. Serve mode of the kiln-envd binary is EnvdServer::Create + Serve.
//
// Routes (E2B envd API, see /work/shared/docs/e2b-protocol.md §4):
//   GET /health (204), GET /envs, POST /init {envVars} (204: sandbox-wide env vars after start; token
//   required), GET /files, POST /files (multipart or octet-stream),
//   POST /process.Process/{Start,Connect,List,SendInput,CloseStdin,SendSignal,Update},
//   POST /filesystem.Filesystem/{Stat,ListDir,MakeDir,Move,Remove,WatchDir,CreateWatcher,GetWatcherEvents,
//   RemoveWatcher},
//   and the code interpreter's POST /execute, /contexts... (see code_interpreter.h).
// Thread-safety: Handle may be called concurrently once Create returned.
#pragma once

#include <memory>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/envd/code_interpreter.h"
#include "kiln/envd/config.h"
#include "kiln/envd/filesystem_service.h"
#include "kiln/envd/paths.h"
#include "kiln/envd/process.h"
#include "kiln/envd/process_service.h"
#include "kiln/envd/router.h"
#include "kiln/envd/watch_service.h"

namespace kiln::envd {

class EnvdServer {
 public:
  // Opens the root. `table` routes child exit statuses (the caller runs the reaper) and must outlive
  // the server.
  static Result<std::unique_ptr<EnvdServer>> Create(EnvdConfig config, ProcessTable* table);

  // Serves HTTP on `listen_fd` on the calling thread until the process exits.
  Status Serve(UniqueFd listen_fd);

  // The route table, e.g. to add the code interpreter's routes before Serve.
  Router& router() { return router_; }

 private:
  EnvdServer(EnvdConfig config, RootFs root, ProcessTable* table);
  void AddRoutes();
  void AddProcessRoutes();
  void AddFilesystemRoutes();
  void AddWatchRoutes();
  void AddRestRoutes();
  void ReadFile(http::Request& request, http::ResponseWriter& writer);
  void WriteFiles(http::Request& request, http::ResponseWriter& writer);
  void Init(http::Request& request, http::ResponseWriter& writer);  // POST /init
  Result<Caller> RpcCaller(const http::Request& request) const;

  EnvdConfig config_;
  RootFs root_;
  ProcessTable* table_;
  FilesystemService filesystem_;
  WatchService watch_;
  ProcessService process_;
  Router router_;
  std::unique_ptr<CodeInterpreter> code_;
};

}  // namespace kiln::envd
