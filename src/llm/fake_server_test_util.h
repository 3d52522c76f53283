// Test helper: a local HTTP server (cpp-httplib on 127.0.0.1, ephemeral port) that records each request and
// answers with canned responses in order. Tests write the canned bodies in each provider's documented format.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/llm/provider.h"

namespace kiln::llm::testing {

struct Canned {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // sleep before answering (timeout tests)
  std::string content_type = "application/json";
};

// A text/event-stream body: each entry of `events` is one event's "event:"/"data:" lines without the
// blank line that ends it. A line starting with neither continues the one before (so tests can wrap JSON).
inline Canned SseCanned(const std::vector<std::string>& events) {
  Canned c;
  for (const std::string& e : events) {
    std::string joined;
    size_t start = 0;
    while (start <= e.size()) {
      size_t end = std::min(e.find('\n', start), e.size());
      std::string line = e.substr(start, end - start);
      bool field = line.rfind("event:", 0) == 0 || line.rfind("data:", 0) == 0;
      if (!joined.empty()) joined += field ? "\n" : "";
      joined += field ? line : line.substr(std::min(line.find_first_not_of(' '), line.size()));
      start = end + 1;
    }
    c.body += joined + "\n\n";
  }
  c.content_type = "text/event-stream";
  return c;
}

struct Recorded {
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  bool has_header(const std::string& lower_name) const { return headers.count(lower_name) > 0; }
  std::map<std::string, std::string> params;  // query parameters
};

class FakeServer {
 public:
  FakeServer() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }

  void Push(Canned c) {
    std::lock_guard<std::mutex> lock(mu_);
    canned_.push_back(std::move(c));
  }
  void PushJson(int status, const nlohmann::json& body) { Push({status, body.dump(), {}, {}}); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  std::vector<Recorded> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    Recorded r{req.path, {}, req.body};
    for (const auto& [k, v] : req.headers) {
      std::string lower;
      for (char ch : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[lower] = v;
    }
    for (const auto& [k, v] : req.params) r.params[k] = v;
    std::optional<Canned> c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(std::move(r));
      if (!canned_.empty()) {
        c = std::move(canned_.front());
        canned_.pop_front();
      }
    }
    if (!c) c = Canned{500, R"({"error":{"message":"fake server: no canned response left"}})", {}, {}};
    if (c->delay.count() > 0) std::this_thread::sleep_for(c->delay);
    res.status = c->status;
    for (const auto& [k, v] : c->headers) res.set_header(k, v);
    res.set_content(c->body, c->content_type.c_str());
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::deque<Canned> canned_;
  std::vector<Recorded> requests_;
};

inline constexpr const char* kTestKey = "sk-test-SECRET-4f2a9c";

// Options pointing at `server` (base URL + `suffix`), with a fixed key, an empty environment, and a retry
// policy that records sleeps instead of sleeping.
struct TestOptions {
  ProviderOptions options;
  std::shared_ptr<std::vector<std::chrono::milliseconds>> sleeps =
      std::make_shared<std::vector<std::chrono::milliseconds>>();
  std::map<std::string, std::string> env;

  TestOptions(const FakeServer& server, const std::string& suffix) {
    options.base_url = server.url() + suffix;
    options.api_key = kTestKey;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.total_timeout = std::chrono::milliseconds(5000);
    auto sleeps_copy = sleeps;
    options.retry.sleep = [sleeps_copy](std::chrono::milliseconds d) { sleeps_copy->push_back(d); };
    options.retry.random = [] { return 0.5; };
    options.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
  }
  TestOptions(const TestOptions&) = delete;
};

// A two-turn conversation with a tool round trip, used to check each provider's request shape.
inline ChatRequest ToolRoundTripRequest() {
  ChatRequest req;
  req.system = "You are terse.";
  req.max_output_tokens = 256;
  req.temperature = 0.2;
  req.tools.push_back(
      {"run",
       "Run a shell command",
       {{"type", "object"}, {"properties", {{"cmd", {{"type", "string"}}}}}, {"required", {"cmd"}}}});
  req.messages.push_back({Role::kUser, "List files", {}, "", "", false});
  Message assistant{Role::kAssistant, "Let me look.", {{"call_1", "run", R"({"cmd":"ls"})"}}, "", "", false};
  req.messages.push_back(assistant);
  req.messages.push_back({Role::kTool, "a.txt\nb.txt", {}, "call_1", "run", false});
  return req;
}

}  // namespace kiln::llm::testing
