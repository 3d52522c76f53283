// `kiln sandbox create|list|info|timeout|kill`: a client of a running `kiln serve` (KILN_URL, KILN_API_KEY),
// speaking the same E2B control-plane API as the SDKs.
#include <cstdlib>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/protocol/http_client.h"

namespace kiln::cli {
namespace {

using Json = nlohmann::json;

struct SandboxFlags {
  std::string template_id = "base";
  int64_t timeout_s = 0;
  std::vector<std::string> metadata, env;
  bool json = false, all = false;
  std::string id;
};

struct Server {
  std::string url, host, key;
  int port = 0;
};

Result<Server> FromEnvironment() {
  Server s;
  const char* url = std::getenv("KILN_URL");
  s.url = url && *url ? url : "http://127.0.0.1:3000";
  const char* key = std::getenv("KILN_API_KEY");
  if (!key || !*key) return InvalidArgument("KILN_API_KEY is not set: export the key `kiln serve` printed");
  s.key = key;
  std::string rest = s.url.rfind("http://", 0) == 0 ? s.url.substr(7) : "";
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon + 1 == rest.size() ||
      rest.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return InvalidArgument("KILN_URL: expected http://HOST:PORT, got '" + s.url + "'");
  s.host = rest.substr(0, colon);
  s.port = std::stoi(rest.substr(colon + 1));
  return s;
}

// One API call; an error status becomes a Status carrying the server's message.
Result<http::Response> Call(const std::string& method, const std::string& target,
                            const std::string& body = "") {
  KILN_ASSIGN_OR_RETURN(Server server, FromEnvironment());
  http::Headers headers;
  headers.Set("X-API-Key", server.key);
  if (!body.empty()) headers.Set("Content-Type", "application/json");
  auto response = http::Client::Tcp(server.host, server.port).Do(method, target, headers, body, 120'000);
  if (!response.ok())
    return Unavailable("cannot reach kiln serve at " + server.url + " (" + response.status().message() +
                       "); is it running? Start it with `kiln serve`");
  if (response->status >= 400) {
    Json error = Json::parse(response->body, nullptr, false);
    std::string message = error.is_object() && error.contains("message") && error["message"].is_string()
                              ? error["message"].get<std::string>()
                              : response->body;
    return Status(response->status == 404 ? Code::kNotFound : Code::kFailedPrecondition,
                  std::to_string(response->status) + ": " + message);
  }
  return response;
}

int Report(const Status& status) {
  std::cerr << "kiln sandbox: " << status.message() << "\n";
  return status.code() == Code::kNotFound ? 1 : kKilnError;
}

Result<Json> Pairs(const std::vector<std::string>& items, const char* flag) {
  Json object = Json::object();
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return InvalidArgument(std::string(flag) + ": expected K=V, got '" + item + "'");
    object[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return object;
}

int Create(const SandboxFlags& f) {
  auto metadata = Pairs(f.metadata, "--metadata");
  auto env = Pairs(f.env, "--env");
  if (!metadata.ok()) return Report(metadata.status());
  if (!env.ok()) return Report(env.status());
  Json body = {{"templateID", f.template_id}, {"metadata", *metadata}, {"envVars", *env}};
  if (f.timeout_s > 0) body["timeout"] = f.timeout_s;
  auto r = Call("POST", "/v2/sandboxes", body.dump());
  if (!r.ok()) return Report(r.status());
  Json created = Json::parse(r->body, nullptr, false);
  std::cout << (f.json ? created.dump() : created.value("sandboxID", "")) << "\n";
  return 0;
}

int List(const SandboxFlags& f) {
  Json all = Json::array();
  std::string target = "/v2/sandboxes?limit=100";
  while (true) {
    auto r = Call("GET", target);
    if (!r.ok()) return Report(r.status());
    for (const Json& s : Json::parse(r->body, nullptr, false)) all.push_back(s);
    auto next = r->headers.Get("X-Next-Token");
    if (!next || next->empty()) break;
    target = "/v2/sandboxes?limit=100&nextToken=" + std::string(*next);
  }
  if (f.json) {
    std::cout << all.dump() << "\n";
    return 0;
  }
  for (const Json& s : all)
    std::cout << s.value("sandboxID", "") << "  " << s.value("templateID", "") << "  " << s.value("state", "")
              << "  ends " << s.value("endAt", "") << "\n";
  return 0;
}

int Info(const SandboxFlags& f) {
  auto r = Call("GET", "/sandboxes/" + f.id);
  if (!r.ok()) return Report(r.status());
  std::cout << Json::parse(r->body, nullptr, false).dump(2) << "\n";
  return 0;
}

int Timeout(const SandboxFlags& f) {
  auto r = Call("POST", "/sandboxes/" + f.id + "/timeout", Json{{"timeout", f.timeout_s}}.dump());
  return r.ok() ? 0 : Report(r.status());
}

int Kill(const SandboxFlags& f) {
  std::vector<std::string> ids;
  if (f.all) {
    auto r = Call("GET", "/sandboxes");  // the legacy listing: every running sandbox, unpaged
    if (!r.ok()) return Report(r.status());
    for (const Json& s : Json::parse(r->body, nullptr, false)) ids.push_back(s.value("sandboxID", ""));
  } else if (!f.id.empty()) {
    ids.push_back(f.id);
  } else {
    return Report(InvalidArgument("name a sandbox id, or --all"));
  }
  for (const std::string& id : ids) {
    auto r = Call("DELETE", "/sandboxes/" + id);
    if (!r.ok()) return Report(r.status());
    std::cout << "killed " << id << "\n";
  }
  return 0;
}

}  // namespace

void AddSandboxCommand(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<SandboxFlags>();
  CLI::App* sandbox =
      app.add_subcommand("sandbox", "Manage sandboxes on a running kiln serve (KILN_URL, KILN_API_KEY)");
  sandbox->require_subcommand(1);
  CLI::App* create = sandbox->add_subcommand("create", "Create a sandbox and print its id");
  create->add_option("--template", f->template_id, "base (default) or code-interpreter-v1");
  create->add_option("--timeout", f->timeout_s, "Lifetime in seconds (server default 300)");
  create->add_option("--metadata", f->metadata, "K=V metadata (repeatable)");
  create->add_option("--env", f->env, "K=V environment of every process in it (repeatable)");
  create->add_flag("--json", f->json, "Print the whole answer (id, access token, ...)");
  create->callback([f, &exit_code] { exit_code = Create(*f); });
  CLI::App* list = sandbox->add_subcommand("list", "List running sandboxes");
  list->add_flag("--json", f->json, "Print a JSON array");
  list->callback([f, &exit_code] { exit_code = List(*f); });
  CLI::App* info = sandbox->add_subcommand("info", "Show one sandbox");
  info->add_option("id", f->id, "Sandbox id")->required();
  info->callback([f, &exit_code] { exit_code = Info(*f); });
  CLI::App* timeout = sandbox->add_subcommand("timeout", "Set a sandbox to end SECONDS from now");
  timeout->add_option("id", f->id, "Sandbox id")->required();
  timeout->add_option("seconds", f->timeout_s, "Seconds from now")->required();
  timeout->callback([f, &exit_code] { exit_code = Timeout(*f); });
  CLI::App* kill = sandbox->add_subcommand("kill", "Kill a sandbox (or every one this key sees, with --all)");
  kill->add_option("id", f->id, "Sandbox id");
  kill->add_flag("--all", f->all, "Kill every running sandbox the key sees");
  kill->callback([f, &exit_code] { exit_code = Kill(*f); });
}

}  // namespace kiln::cli
