// Control: the platform's rules over kiln::runtime, the API that `kiln serve` (and tests) call.
//
// It owns the home directory's database (keys and the sandbox registry), a Runtime, and the template
// catalog. Every sandbox operation takes the calling Principal: a key sees and manages only the sandboxes
// it created, an admin key all of them; another key's sandbox is reported as NotFound, exactly like an
// unknown one, so ids cannot be probed.
//
// Registry and runtime: a sandbox is written to the registry ("starting") before it launches and marked
// "running" once it runs; when the runtime no longer has it (killed, its lifetime over) the registry marks
// it "ended" the next time it is looked at. Ended and starting sandboxes are never listed. Sandboxes
// outlive the server process: a server killed by SIGKILL leaves them running, and the next Open re-adopts
// them (processes, files and contexts intact, lifetime enforced again).
//
// Errors: InvalidArgument (bad field, or a timeout past the maximum lifetime), NotFound, ResourceExhausted
// (a concurrency limit, named in the message), and whatever the runtime reports when a sandbox cannot start.
//
// Retention: a background pass deletes the rows of sandboxes that ended more than retain_ended_s ago (at
// most every minute, more often for a short retention); such an id then reads as never known.
//
// autoPause: such a sandbox is given the runtime lifetime of its maximum lifetime, and a thread of the
// Control pauses it (as Pause does) within a second after its timeout ends; Connect resumes it. A server
// restarted after that moment re-adopts it and pauses it then.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/control/database.h"
#include "kiln/control/keys.h"
#include "kiln/runtime/runtime.h"

namespace kiln::control {

class SandboxPool;

struct ControlOptions {
  std::string home;        // the Kiln home directory (created 0700 if missing); the database is home/kiln.db
  std::string socket_dir;  // envd sockets; empty: the runtime's default
  int64_t max_sandboxes_per_key = 20;  // running at once per key
  int64_t max_sandboxes_total = 100;   // running at once on this server
  int64_t max_lifetime_s = 24 * 3600;  // from start to end, however often the timeout is extended
  int64_t default_timeout_s = 300;     // E2B's default when a create names none
  // How long the registry keeps an ended sandbox's row (its get then says why it ended) before a background
  // pass deletes it (`kiln serve --retain-ended`); 0 deletes them at the next pass.
  int64_t retain_ended_s = 24 * 3600;
  // Warm pools (`kiln serve --pool TEMPLATE=N`): template id -> started sandboxes kept ready, refilled in
  // the background. A create of such a template takes one when the request asks nothing a started sandbox
  // cannot take (network settings other than the default: those creates start cold); its envVars (given
  // to its envd by POST /init), metadata, timeout and autoPause apply from then on, and its start time is
  // the create's.
  std::map<std::string, int64_t> pool_sizes;
  // Whether a create that does not say gets network (`kiln serve --internet-access`). Off, unlike E2B.
  bool default_internet_access = false;
};

// One entry of the template catalog.
struct Template {
  std::string id;
  std::string description;
  bool python_context = false;  // the default Python code context is started with the sandbox
  bool built = false;           // a template of the store (kiln template build), run on its own root
  // What a sandbox of it gets, for listings (GET /templates).
  int64_t cpu_count = 1, memory_mb = 512, disk_mb = 256;
  int64_t created_ms = 0;  // when it was built; 0 for the built-in ones
  std::string version;     // the Kiln (and kiln-envd) version that built it; empty for the built-in ones
  std::string start_cmd, ready_cmd;
};
// The known templates, in a stable order: "base", "code-interpreter-v1".
const std::vector<Template>& Templates();
// NotFound lists the known template ids.
Result<Template> FindTemplate(const std::string& id);
// The built-in ones, then the templates built into `home`'s store (HOME/templates).
std::vector<Template> Templates(const std::string& home);
// A built-in or built template; NotFound lists them all.
Result<Template> FindTemplate(const std::string& id, const std::string& home);

struct SandboxRecord {
  std::string id;
  std::string owner;  // key id
  std::string template_id;
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::string> env_vars;
  std::string access_token;  // envd's X-Access-Token
  std::string socket_path;   // envd's socket on the host
  int64_t cpu_count = 0, memory_mb = 0, disk_mb = 0;
  int64_t started_ms = 0, end_ms = 0;  // wall clock
  // "starting", "pooled" (ready in a warm pool, nobody's yet), "running", "paused" or "ended"
  std::string state;
  bool auto_pause = false;  // paused, not killed, when its timeout ends
  int64_t ended_ms = 0;
  // "killed", "expired", "exited", "server stopped", "server restarted", "failed to start", "pooled, unused"
  std::string end_reason;
};

struct CreateRequest {
  std::string template_id = "base";
  std::optional<int64_t> timeout_s;  // default ControlOptions::default_timeout_s
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::string> env_vars;
  // E2B's allowInternetAccess; unset: ControlOptions::default_internet_access.
  std::optional<bool> allow_internet_access;
  sandbox::NetworkRules network_rules;  // E2B's network.allowOut / denyOut (IPv4 CIDRs)
  bool auto_pause = false;  // E2B's autoPause: when the timeout ends the sandbox is paused, not killed
};

struct ListRequest {
  std::map<std::string, std::string> metadata;  // every pair must match
  std::vector<std::string> states;              // "running" / "paused"; empty: both
  std::string template_id;                      // empty: any
  int64_t started_after_ms = 0;
  bool ascending = false;  // by started time; default newest first
  int64_t limit = 100;     // 1..100
  std::string next_token;  // from the previous page; empty: the first page
};

struct ListPage {
  std::vector<SandboxRecord> sandboxes;
  std::string next_token;  // empty: this was the last page
};

// A one-shot program (Riza's command.exec): a fresh sandbox runs `code` once and is destroyed.
struct ExecRequest {
  std::string language;  // python, javascript (node), bash or sh
  std::string code;
  std::string stdin_data;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  int64_t timeout_s = 30;  // wall clock for the whole run, 1..max_lifetime_s
};

struct ExecResult {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string stdout_data, stderr_data;
  int64_t duration_ms = 0;
  bool timed_out = false, oom_killed = false, truncated = false;
};

// One sample of a sandbox's resource use (GET /sandboxes/{id}/metrics).
struct SandboxMetric {
  int64_t at_ms = 0;  // wall clock
  int64_t started_ms = 0;
  int64_t cpu_count = 0;
  double cpu_used_pct = 0;  // of cpu_count CPUs, since the previous sample
  sandbox::Usage usage;
};

// One entry of what a sandbox's envd logged (GET /sandboxes/{id}/logs): envd's start, each process's start
// and end.
struct SandboxLogEntry {
  int64_t at_ms = 0;  // wall clock
  std::string level;  // debug, info, warn, error
  std::string message;
  std::map<std::string, std::string> fields;
};

// Where the data plane reaches a running sandbox.
struct Route {
  std::string socket_path;
  std::string access_token;
};

class Control {
 public:
  // Takes the home directory's lock (one server per home: FailedPrecondition while another holds it),
  // opens the database, and takes over what the registry still calls live (a previous server process died
  // without killing its sandboxes): one still running within its lifetime is re-adopted, paused or not;
  // one whose lifetime ended meanwhile is killed and recorded as ended ("expired"), one that died
  // ("exited") or was never acknowledged ("starting": "server restarted") has its remains removed.
  static Result<std::unique_ptr<Control>> Open(ControlOptions options);
  ~Control();  // kills the sandboxes this process runs (the runtime owns them)

  KeyStore& keys() { return keys_; }
  const ControlOptions& options() const { return options_; }

  Result<SandboxRecord> Create(const Principal& caller, const CreateRequest& request);
  Result<ListPage> List(const Principal& caller, const ListRequest& request);
  Result<SandboxRecord> Get(const Principal& caller, const std::string& id);
  Status Kill(const Principal& caller, const std::string& id);
  // Overwrites the lifetime: the sandbox ends `timeout_s` from now (E2B's setTimeout).
  Status SetTimeout(const Principal& caller, const std::string& id, int64_t timeout_s);
  // Extends only: end = max(end, now + timeout_s) (E2B's connect and refresh), up to the maximum
  // lifetime. A paused sandbox is resumed (*resumed = true) and ends `timeout_s` from now.
  Result<SandboxRecord> Connect(const Principal& caller, const std::string& id,
                                std::optional<int64_t> timeout_s, bool* resumed = nullptr);
  // Freezes every process of the sandbox (cgroup freezer); they keep their memory, its data plane answers
  // as for an unknown sandbox, and its lifetime is held at the maximum until Connect resumes it.
  // FailedPrecondition when already paused; Unimplemented on a host without a cgroup freezer.
  Status Pause(const Principal& caller, const std::string& id);
  // Samples the sandbox's CPU, memory (cgroup) and home filesystem now. NotFound as Get; Unimplemented on a
  // host without cgroups.
  Result<SandboxMetric> Metrics(const Principal& caller, const std::string& id);
  // What the sandbox's envd logged, oldest first: entries at or after `start_ms` (wall clock), at most
  // `limit` (1..10000, else InvalidArgument). NotFound as Get; FailedPrecondition for a paused sandbox
  // (its envd is frozen); Unavailable when envd does not answer within 10 s.
  Result<std::vector<SandboxLogEntry>> Logs(const Principal& caller, const std::string& id, int64_t start_ms,
                                            int64_t limit);
  // Runs one program in a fresh sandbox, counted against the caller's concurrency limit while it runs.
  // InvalidArgument names an unknown language (listing the known ones) or a bad timeout; a program that
  // fails is still a result.
  Result<ExecResult> Exec(const Principal& caller, const ExecRequest& request);
  // Sandboxes this server runs now (every key's), by state: a paused one counts only as paused.
  struct StateCounts {
    int64_t running = 0, paused = 0;
  };
  StateCounts CountByState() const;
  // Ready sandboxes of each warm pool now, by template id (every configured template, 0 included).
  std::map<std::string, int64_t> PoolSizes() const;
  // For the data plane (its callers hold the access token, not a key). NotFound unless running (paused
  // included).
  Result<Route> Resolve(const std::string& id) const;

 private:
  Control(ControlOptions options, UniqueFd lock, std::unique_ptr<Database> db,
          std::unique_ptr<runtime::Runtime> runtime);
  Result<SandboxRecord> Visible(const Principal& caller, const std::string& id);
  Status Reconcile(SandboxRecord& record);
  Status CheckLifetime(const SandboxRecord& record, int64_t end_ms) const;
  Status Reserve(const Principal& caller);
  void Unreserve(const Principal& caller);
  // Launches and registers a sandbox: the caller's ("running"), or with `for_pool` nobody's yet
  // ("pooled", no lifetime until it is claimed).
  Result<SandboxRecord> Start(const Principal& caller, const CreateRequest& request, const Template& tmpl,
                              bool for_pool = false);
  // control_pool.cc: a pooled sandbox made the caller's, when the request allows one and one is ready.
  std::optional<SandboxRecord> FromPool(const Principal& caller, const CreateRequest& request,
                                        const Template& tmpl);
  Result<SandboxRecord> Claim(const Principal& caller, const CreateRequest& request, SandboxRecord pooled);
  Result<SandboxRecord> MakePooled(const std::string& template_id);
  Status UpdateEnd(SandboxRecord& record, int64_t end_ms);
  Status PauseRecord(const SandboxRecord& record);
  Status CheckTimeout(int64_t timeout_s) const;
  int64_t MaxEnd(const SandboxRecord& record) const;
  // The housekeeping thread: pauses autoPause sandboxes whose timeout has ended, prunes old ended rows.
  void Housekeep();
  void PauseWhenDue();
  void PruneEnded();

  ControlOptions options_;
  UniqueFd home_lock_;  // flock'd home/serve.lock, held for the Control's life
  std::unique_ptr<Database> db_;
  KeyStore keys_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::mutex quota_mu_;                      // guards the two counters below with the registry count
  std::map<std::string, int64_t> starting_;  // creations under way, per key
  std::mutex pauser_mu_;
  std::condition_variable pauser_wake_;
  bool stopping_ = false;
  std::unique_ptr<SandboxPool> pool_;  // null: no warm pools
  int64_t pruned_at_ms_ = 0;           // the last PruneEnded pass (housekeeping thread only)
  std::thread pauser_;
};

}  // namespace kiln::control
