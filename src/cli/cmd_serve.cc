// `kiln serve` (the E2B-compatible server) and `kiln keys` (its API keys).
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/agent/executor.h"
#include "kiln/agent/thread_service.h"
#include "kiln/base/clock.h"
#include "kiln/base/install_paths.h"
#include "kiln/control/control.h"
#include "kiln/server/server.h"
#include "kiln/tools/registry.h"

namespace kiln::cli {

// `kiln sandbox ...` (cmd_sandbox.cc), registered with the server's commands.
void AddSandboxCommand(CLI::App& app, int& exit_code);

std::string HomeDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("KILN_HOME"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.kiln";
}

namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:3000";
  std::string home;
  int64_t max_sandboxes = 100;
  int64_t max_per_key = 20;
  int64_t max_lifetime_s = 24 * 3600;
  bool access_log = true;
  bool internet_access = false;
  std::string workflow_model;  // the model of the LangGraph-compatible coding workflow runs
  std::string retain_ended = "24h";
  std::vector<std::string> pools;  // TEMPLATE=N
  std::string mcp_tools;           // the registry served at /mcp; empty: the built-in tools
  int64_t mcp_idle_s = 1800;
};

struct KeysFlags {
  std::string home;
  std::string name = "default";
  bool admin = false;
  bool json = false;
  std::string id;
};

int Fail(const Status& status) {
  std::cerr << "kiln: " << status.ToString() << "\n";
  return kKilnError;
}

// "HOST:PORT", "[v6]:PORT" or ":PORT" (loopback).
Result<std::pair<std::string, int>> ParseListen(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("--listen: expected HOST:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("--listen: bad port '" + port + "'");
  return std::make_pair(host, std::stoi(port));
}

// "90" or "90s", "30m", "24h", "7d" to seconds.
Result<int64_t> ParseDurationSeconds(const std::string& flag, const std::string& text) {
  size_t digits = text.find_first_not_of("0123456789");
  std::string number = text.substr(0, digits), unit = digits == std::string::npos ? "s" : text.substr(digits);
  static const std::pair<const char*, int64_t> kUnits[] = {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  for (const auto& [name, seconds] : kUnits)
    if (unit == name && !number.empty() && number.size() <= 9) return std::stoll(number) * seconds;
  return InvalidArgument(flag + ": expected a duration such as 90s, 30m, 24h or 7d, got '" + text + "'");
}

// --pool TEMPLATE=N (repeatable) to template -> size.
Result<std::map<std::string, int64_t>> ParsePools(const std::vector<std::string>& flags) {
  std::map<std::string, int64_t> sizes;
  for (const std::string& flag : flags) {
    size_t eq = flag.rfind('=');
    std::string n = eq == std::string::npos ? "" : flag.substr(eq + 1);
    if (eq == 0 || n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument("--pool: expected TEMPLATE=N (N up to 9999), got '" + flag + "'");
    sizes[flag.substr(0, eq)] = std::stoll(n);
  }
  return sizes;
}

// The first start of a fresh home creates an admin key and shows it, the only time it is shown.
Status FirstKey(control::Control& control) {
  KILN_ASSIGN_OR_RETURN(int64_t count, control.keys().Count());
  if (count > 0) return Status::Ok();
  KILN_ASSIGN_OR_RETURN(control::NewApiKey key, control.keys().Create("admin", /*admin=*/true));
  std::cout << "Created the first API key (admin, id " << key.key.id << "); it is shown only this once:\n  "
            << key.secret << "\n";
  return Status::Ok();
}

void PrintUsage(const std::string& host, int port) {
  std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                    std::to_string(port);
  std::cout << "kiln serve: listening on " << url << "\n"
            << "E2B SDKs: export E2B_API_URL=" << url << " E2B_SANDBOX_URL=" << url
            << " E2B_API_KEY=<your key>\n"
            << std::flush;
}

// Each proxied stream holds two sockets (client and envd): the usual soft limit of 1024 fds would cap the
// server near 500 streams, so take the hard limit.
void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

int Serve(const ServeFlags& flags) {
  auto listen = ParseListen(flags.listen);
  if (!listen.ok()) return Fail(listen.status());
  RaiseFdLimit();
  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  control::ControlOptions options;
  options.home = HomeDir(flags.home);
  options.max_sandboxes_total = flags.max_sandboxes;
  options.max_sandboxes_per_key = flags.max_per_key;
  options.max_lifetime_s = flags.max_lifetime_s;
  options.default_internet_access = flags.internet_access;
  auto retain = ParseDurationSeconds("--retain-ended", flags.retain_ended);
  if (!retain.ok()) return Fail(retain.status());
  options.retain_ended_s = *retain;
  auto pools = ParsePools(flags.pools);
  if (!pools.ok()) return Fail(pools.status());
  options.pool_sizes = *pools;
  auto control = control::Control::Open(options);
  if (!control.ok()) return Fail(control.status());
  if (Status s = FirstKey(**control); !s.ok()) return Fail(s);
  // The coding workflow's threads ($HOME/threads.db) behind the LangGraph-compatible API.
  auto thread_store = workflow::OpenSqliteCheckpointStore(options.home + "/threads.db");
  if (!thread_store.ok()) return Fail(thread_store.status());
  std::unique_ptr<agent::Executor> executor = agent::MakeSandboxExecutor();
  agent::ThreadServiceOptions thread_options;
  thread_options.model = flags.workflow_model;
  thread_options.env = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  agent::ThreadService threads(std::move(*thread_store), executor.get(), thread_options);
  server::ServerOptions server_options;
  server_options.threads = &threads;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.access_log = flags.access_log;
  auto mcp_tools = flags.mcp_tools.empty() ? tools::Registry(tools::DefaultRegistry())
                                           : tools::LoadRegistryFile(flags.mcp_tools);
  if (!mcp_tools.ok()) return Fail(mcp_tools.status());
  server_options.mcp_tools = &*mcp_tools;
  server_options.mcp_idle_timeout_s = flags.mcp_idle_s;
  server_options.version = VersionString();
  auto server = server::Server::Start(control->get(), server_options);
  if (!server.ok()) return Fail(server.status());
  PrintUsage(listen->first, (*server)->port());
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  std::cerr << "kiln serve: stopping (signal " << signal_number << "); its sandboxes are killed\n";
  (*server)->Stop();
  return 0;
}

Result<std::unique_ptr<control::Database>> OpenKeys(const std::string& flag) {
  std::string home = HomeDir(flag);
  if (mkdir(home.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir(" + home + ")", errno);
  return control::Database::Open(home + "/kiln.db");
}

int KeysCreate(const KeysFlags& flags) {
  auto db = OpenKeys(flags.home);
  if (!db.ok()) return Fail(db.status());
  auto key = control::KeyStore(db->get()).Create(flags.name, flags.admin);
  if (!key.ok()) return Fail(key.status());
  if (flags.json) {
    std::cout << nlohmann::json{{"id", key->key.id},
                                {"name", key->key.name},
                                {"admin", key->key.admin},
                                {"key", key->secret}}
                     .dump()
              << "\n";
  } else {
    std::cout << "API key " << key->key.id << " (" << key->key.name << (flags.admin ? ", admin" : "")
              << "); shown only this once:\n  " << key->secret << "\n";
  }
  return 0;
}

int KeysList(const KeysFlags& flags) {
  auto db = OpenKeys(flags.home);
  if (!db.ok()) return Fail(db.status());
  auto keys = control::KeyStore(db->get()).List();
  if (!keys.ok()) return Fail(keys.status());
  nlohmann::json all = nlohmann::json::array();
  for (const control::ApiKey& k : *keys) {
    if (!flags.json) {
      std::printf("%-10s %-20s %-6s %s%s\n", k.id.c_str(), k.name.c_str(), k.admin ? "admin" : "",
                  Rfc3339(k.created_ms * 1'000'000).c_str(), k.revoked_ms ? "  revoked" : "");
      continue;
    }
    all.push_back({{"id", k.id},
                   {"name", k.name},
                   {"admin", k.admin},
                   {"created", Rfc3339(k.created_ms * 1'000'000)},
                   {"revoked", k.revoked_ms != 0}});
  }
  if (flags.json) std::cout << all.dump() << "\n";
  return 0;
}

int KeysRevoke(const KeysFlags& flags) {
  auto db = OpenKeys(flags.home);
  if (!db.ok()) return Fail(db.status());
  Status revoked = control::KeyStore(db->get()).Revoke(flags.id);
  if (!revoked.ok()) return Fail(revoked);
  std::cout << "revoked " << flags.id << "\n";
  return 0;
}

void AddKeysCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<KeysFlags>();
  CLI::App* keys = app.add_subcommand("keys", "Manage the API keys of `kiln serve`");
  keys->require_subcommand(1);
  keys->add_option("--home", flags->home, "Kiln home directory (default $KILN_HOME or ~/.kiln)");
  CLI::App* create = keys->add_subcommand("create", "Create a key and print it (only this once)");
  create->add_option("--name", flags->name, "A name to recognise it by (default: default)");
  create->add_flag("--admin", flags->admin, "The key sees and manages every sandbox");
  create->add_flag("--json", flags->json, "Print {id, name, admin, key}");
  create->callback([flags, &exit_code] { exit_code = KeysCreate(*flags); });
  CLI::App* list = keys->add_subcommand("list", "List keys (ids and names, never secrets)");
  list->add_flag("--json", flags->json, "Print a JSON array");
  list->callback([flags, &exit_code] { exit_code = KeysList(*flags); });
  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key by id");
  revoke->add_option("id", flags->id, "Key id (from `kiln keys list`)")->required();
  revoke->callback([flags, &exit_code] { exit_code = KeysRevoke(*flags); });
}

}  // namespace

void AddServeCommands(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve =
      app.add_subcommand("serve", "Run the E2B-compatible server (control plane and data plane)");
  serve->add_option("--listen", flags->listen, "HOST:PORT to listen on (default 127.0.0.1:3000)");
  serve->add_option("--home", flags->home, "Kiln home directory (default $KILN_HOME or ~/.kiln)");
  serve->add_option("--max-sandboxes", flags->max_sandboxes, "Concurrent sandboxes on this server (100)");
  serve->add_option("--max-per-key", flags->max_per_key, "Concurrent sandboxes per API key (20)");
  serve->add_option("--max-lifetime", flags->max_lifetime_s, "Longest sandbox lifetime in seconds (86400)");
  serve->add_option("--pool", flags->pools,
                    "TEMPLATE=N: keep N started sandboxes of TEMPLATE ready for creates (repeatable)");
  serve->add_option("--retain-ended", flags->retain_ended,
                    "How long an ended sandbox stays in the registry (default 24h; 0 prunes at once)");
  serve->add_flag("--internet-access", flags->internet_access,
                  "Sandboxes get network when a create omits allowInternetAccess (default: no network)");
  serve->add_flag("--access-log,!--no-access-log", flags->access_log,
                  "One JSON line per request on stderr (default on)");
  serve->add_option("--workflow-model", flags->workflow_model,
                    "Model of the coding workflow's runs on the LangGraph-compatible API (/threads, /runs)");
  serve->add_option("--mcp-tools", flags->mcp_tools,
                    "Tool registry (YAML) served over MCP at /mcp (default: the built-in tools)");
  serve->add_option("--mcp-idle", flags->mcp_idle_s,
                    "Seconds without requests after which an MCP session ends with its sandbox (1800)");
  serve->callback([flags, &exit_code] { exit_code = Serve(*flags); });
  AddKeysCommand(app, exit_code);
  AddSandboxCommand(app, exit_code);
}

}  // namespace kiln::cli
