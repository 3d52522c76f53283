// `kiln chat`: a terminal conversation with a model that calls the registry's tools in a sandbox of its own,
// stored under the Kiln home (HOME/chat.db) so that `--session NAME` continues it later.
//
// Each line is one turn (chat::Conversation): text is printed as it streams (on a terminal, without NO_COLOR,
// rendered from Markdown a line at a time: chat::MarkdownRenderer), each tool call and a short form
// of its result are shown, images from results are saved under --images and named. Ctrl-C stops the current
// answer, and the tool call running then (its process killed), and keeps the session; at the prompt it only
// reminds that EOF (Ctrl-D) ends the session, unless stdin is not a terminal, where it stops like SIGTERM.
// EOF ends the session and kills the sandbox; SIGTERM and SIGHUP kill it too (the session is already stored,
// message by message).
//
// Sandboxes: one per run, made at the first tool call and killed when the run ends (die_with_owner: even a
// SIGKILL takes it down). After every turn that ran tools, the sandbox's home directory is saved in the
// session as a gzipped tar (up to 64 MiB); a continued session gets a new sandbox with those files restored,
// and the model is told that variables and imports from before are gone.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#ifdef KILN_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "commands.h"
#include "kiln/base/strings.h"
#include "kiln/chat/conversation.h"
#include "kiln/chat/markdown.h"
#include "kiln/client/envd_client.h"
#include "kiln/template/store.h"
#include "kiln/tools/sandbox.h"
#include "kiln/trace/provider.h"
#include "signals.h"

namespace kiln::cli {
namespace {

constexpr size_t kMaxFilesSnapshot = 64u << 20;
constexpr const char* kSnapshotPath = "/tmp/.kiln-chat-files.tgz";
constexpr const char* kHomeInSandbox = "/home/user";

const char* const kSystemPrompt =
    "You are a helpful assistant in a terminal chat. You can call tools that run in an isolated Linux "
    "sandbox of your own: Python keeps its variables between run_python calls, and files written by one "
    "tool are seen by the others (the home directory is /home/user). Use the tools when they help; answer "
    "in plain text with Markdown where useful.";

struct ChatFlags {
  std::string session, model, tools_file, template_name, remove, system;
  std::string images_dir = "kiln-chat-images";
  bool list = false, no_stream = false;
  double lifetime_s = 3600, budget_usd = 0;
  int64_t condense_at = 100'000;
};

void Emit(FILE* f, std::string_view text) {
  fwrite(text.data(), 1, text.size(), f);
  fflush(f);
}

std::string Shorten(std::string text, size_t max) {
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text.size() > max ? text.substr(0, max) + "..." : text;
}

std::string NewSessionName() {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::gmtime(&now));
  return std::string("chat-") + stamp + "-" + std::to_string(::getpid());
}

// The run's sandbox: made on the first tool call (on the main thread, where the turns run, so that
// die_with_owner ties it to this process), with the session's saved files put back.
class ChatSandbox {
 public:
  ChatSandbox(std::string template_name, int64_t lifetime_ms, std::string files_tgz)
      : template_name_(std::move(template_name)), lifetime_ms_(lifetime_ms), files_(std::move(files_tgz)) {}
  ~ChatSandbox() { Kill(); }

  Result<tools::SandboxEndpoint> Make() {
    if (!runtime_) {
      KILN_ASSIGN_OR_RETURN(runtime_, runtime::Runtime::Create());
    }
    runtime::CreateOptions create;
    if (!template_name_.empty()) {
      KILN_ASSIGN_OR_RETURN(tmpl::TemplateInfo t, tmpl::TemplateStore().Get(template_name_));
      KILN_RETURN_IF_ERROR(tmpl::ApplyTemplate(t, create.spec));
    }
    create.spec.limits.timeout_ms = lifetime_ms_;
    create.die_with_owner = true;
    create.spec.env["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    create.env_vars["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime_->CreateSandbox(create));
    endpoint_ = tools::SandboxEndpoint{info.id, info.socket_path, info.access_token};
    if (!files_.empty()) {
      Status restored = Tar("-xzf");
      if (!restored.ok())
        Emit(stderr, "kiln chat: the session's files were not restored: " + restored.message() + "\n");
    }
    return *endpoint_;
  }

  // The home directory as a gzipped tar; "" when there is no sandbox yet.
  Result<std::string> Snapshot() {
    if (!endpoint_) return std::string();
    KILN_RETURN_IF_ERROR(Tar("-czf"));
    client::EnvdClient envd(endpoint_->socket_path, endpoint_->access_token);
    KILN_ASSIGN_OR_RETURN(std::string bytes, envd.Read(kSnapshotPath));
    (void)envd.Remove(kSnapshotPath);
    if (bytes.size() > kMaxFilesSnapshot)
      return ResourceExhausted("the home directory is " + std::to_string(bytes.size() >> 20) +
                               " MiB compressed, over the 64 MiB a session keeps");
    files_ = bytes;
    return bytes;
  }

  void Kill() {
    if (runtime_ && endpoint_) (void)runtime_->Kill(endpoint_->id);
  }

 private:
  // tar -czf (save) or -xzf (restore) of the home directory through kSnapshotPath.
  Status Tar(const std::string& mode) {
    client::EnvdClient envd(endpoint_->socket_path, endpoint_->access_token);
    if (mode == "-xzf") KILN_RETURN_IF_ERROR(envd.Write(kSnapshotPath, files_));
    client::ProcessConfig config;
    config.cmd = "/bin/tar";
    config.args = {"-C", kHomeInSandbox, "--exclude=./.cache", mode, kSnapshotPath};
    if (mode == "-czf") config.args.push_back(".");
    std::string err;
    client::ProcessCallbacks callbacks;
    callbacks.on_stderr = [&](std::string_view bytes) { err.append(bytes); };
    client::StartOptions options;
    options.timeout_ms = 120'000;
    KILN_ASSIGN_OR_RETURN(client::ProcessExit exit, envd.Start(config, options, callbacks));
    if (mode == "-xzf") (void)envd.Remove(kSnapshotPath);
    if (exit.exit_code != 0) return Internal("tar " + mode + " failed: " + Shorten(err, 300));
    return Status::Ok();
  }

  std::string template_name_;
  int64_t lifetime_ms_;
  std::string files_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::optional<tools::SandboxEndpoint> endpoint_;
};

class LineReader {
 public:
  LineReader() : tty_(isatty(STDIN_FILENO) != 0) {
#ifdef KILN_HAVE_LIBEDIT
    if (const char* home = std::getenv("HOME"); tty_ && home)
      history_ = std::string(home) + "/.kiln_chat_history";
    if (!history_.empty()) read_history(history_.c_str());
#endif
  }
  ~LineReader() {
#ifdef KILN_HAVE_LIBEDIT
    if (!history_.empty()) write_history(history_.c_str());
#endif
  }
  bool Read(std::string* line) {
#ifdef KILN_HAVE_LIBEDIT
    if (tty_) {
      char* got = readline("you> ");
      if (got == nullptr) return false;
      *line = got;
      free(got);
      if (!Trim(*line).empty()) add_history(line->c_str());
      return true;
    }
#endif
    if (tty_) Emit(stdout, "you> ");
    return static_cast<bool>(std::getline(std::cin, *line));
  }
  bool tty() const {
    return tty_;
  }

 private:
  bool tty_;
  std::string history_;
};

// Prints a turn as it happens and saves images.
class TurnPrinter {
 public:
  // `styled`: answers rendered as Markdown for a terminal (chat::MarkdownRenderer), else printed as written.
  TurnPrinter(std::string images_dir, std::string session, bool styled)
      : dir_(std::move(images_dir)), session_(std::move(session)) {
    if (styled) markdown_.emplace();
  }

  chat::TurnCallbacks Callbacks() {
    chat::TurnCallbacks cb;
    cb.on_text = [this](std::string_view d) {
      wrote_text_ = wrote_text_ || !d.empty();
      Print(markdown_ ? markdown_->Feed(d) : std::string(d));
    };
    cb.on_tool_call = [this](const llm::ToolCall& call) {
      EndLine();
      Emit(stdout, "[" + call.name + "] " + Shorten(call.arguments_json, 200) + "\n");
    };
    cb.on_tool_result = [this](const llm::ToolCall&, const tools::ToolResult& r) { return OnResult(r); };
    cb.on_note = [this](const std::string& note) {
      EndLine();
      Emit(stderr, "kiln chat: " + note + "\n");
    };
    return cb;
  }
  void EndTurn() {
    EndLine();
    wrote_text_ = false;
  }

 private:
  void Print(const std::string& text) {
    if (text.empty()) return;
    Emit(stdout, text);
    at_line_start_ = text.back() == '\n';
  }
  void EndLine() {
    if (markdown_) Print(markdown_->Finish());
    if (wrote_text_ && !at_line_start_) Emit(stdout, "\n");
    at_line_start_ = true;
  }

  std::string OnResult(const tools::ToolResult& r) {
    Emit(stdout, std::string(r.is_error ? "[error] " : "[result] ") + Shorten(r.Text(), 300) + "\n");
    std::string notes;
    for (const tools::Content& c : r.content) {
      if (c.type != tools::Content::Type::kImage) continue;
      std::string path = SaveImage(c);
      if (path.empty()) continue;
      Emit(stdout, "[image saved: " + path + "]\n");
      notes += (notes.empty() ? "" : "\n") + std::string("the person sees the image saved as ") + path;
    }
    return notes;
  }

  std::string SaveImage(const tools::Content& c) {
    std::string bytes;
    if (!Base64Decode(c.data, &bytes)) return "";
    std::string ext = c.mime_type == "image/jpeg" ? "jpg" : "png";
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    std::string path = dir_ + "/" + session_ + "-" + std::to_string(++images_) + "." + ext;
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    return out.flush() ? path : "";
  }

  std::string dir_, session_;
  std::optional<chat::MarkdownRenderer> markdown_;
  int images_ = 0;
  bool at_line_start_ = true, wrote_text_ = false;
};

Result<std::unique_ptr<chat::SessionStore>> OpenStore() {
  return chat::SessionStore::Open(HomeDir("") + "/chat.db");
}

int ListSessions() {
  auto store = OpenStore();
  if (!store.ok()) {
    std::cerr << "kiln chat: " << store.status().message() << "\n";
    return kKilnError;
  }
  auto sessions = (*store)->List();
  if (!sessions.ok()) {
    std::cerr << "kiln chat: " << sessions.status().message() << "\n";
    return kKilnError;
  }
  std::printf("%-32s %-28s %8s %10s %10s %10s\n", "SESSION", "MODEL", "MESSAGES", "IN_TOKENS", "OUT_TOKENS",
              "COST_USD");
  for (const chat::Session& s : *sessions) {
    std::string cost = s.totals.cost_known ? std::to_string(s.totals.cost_usd) : "unknown";
    std::printf("%-32s %-28s %8lld %10lld %10lld %10s\n", s.name.c_str(), Shorten(s.model, 28).c_str(),
                static_cast<long long>(s.messages_total), static_cast<long long>(s.totals.usage.input_tokens),
                static_cast<long long>(s.totals.usage.output_tokens), cost.c_str());
  }
  return 0;
}

int RemoveSession(const std::string& name) {
  auto store = OpenStore();
  Status s = store.ok() ? (*store)->Remove(name) : store.status();
  if (!s.ok()) {
    std::cerr << "kiln chat --rm: " << s.message() << "\n";
    return kKilnError;
  }
  std::cout << "removed chat session " << name << "\n";
  return 0;
}

// Loads --session NAME, or creates it (or a new name) from the flags. Flags given again replace the stored.
Result<chat::Session> OpenSession(chat::SessionStore& store, const ChatFlags& flags) {
  std::string name = flags.session.empty() ? NewSessionName() : flags.session;
  Result<chat::Session> loaded = store.Load(name);
  if (loaded.ok()) {
    if (!flags.model.empty() && flags.model != loaded->model) {
      KILN_RETURN_IF_ERROR(store.SetModel(name, flags.model));
      loaded->model = flags.model;
    }
    return loaded;
  }
  if (loaded.status().code() != Code::kNotFound) return loaded.status();
  chat::Session fresh;
  fresh.name = name;
  fresh.model = flags.model;
  if (fresh.model.empty()) {
    const char* env = std::getenv("KILN_MODEL");
    fresh.model = env ? env : "";
  }
  if (fresh.model.empty())
    return InvalidArgument("no model: give --model (or set KILN_MODEL); the accepted forms are:\n" +
                           std::string(llm::ModelStringHelp()));
  if (!flags.tools_file.empty()) fresh.tools_file = std::filesystem::absolute(flags.tools_file).string();
  fresh.template_name = flags.template_name;
  KILN_RETURN_IF_ERROR(store.Create(fresh));
  return store.Load(name);
}

struct ChatRun {
  std::unique_ptr<chat::SessionStore> store;
  chat::Session session;
  tools::Registry registry;
  std::unique_ptr<llm::Provider> model;
  llm::PriceTable prices;
};

Result<ChatRun> PrepareRun(const ChatFlags& flags) {
  ChatRun run;
  KILN_ASSIGN_OR_RETURN(run.store, OpenStore());
  KILN_ASSIGN_OR_RETURN(run.session, OpenSession(*run.store, flags));
  std::string tools_file = flags.tools_file.empty() ? run.session.tools_file : flags.tools_file;
  if (tools_file.empty()) {
    run.registry = tools::DefaultRegistry();
  } else {
    KILN_ASSIGN_OR_RETURN(run.registry, tools::LoadRegistryFile(tools_file));
  }
  KILN_ASSIGN_OR_RETURN(run.model, llm::MakeProvider(run.session.model));
  KILN_ASSIGN_OR_RETURN(run.prices, llm::PriceTable::Default());
  return run;
}

std::string TotalsLine(const chat::Session& s) {
  char cost[32];
  std::snprintf(cost, sizeof cost, "%.4f", s.totals.cost_usd);
  return std::to_string(s.totals.calls) + " model calls, " + std::to_string(s.totals.usage.input_tokens) +
         " input and " + std::to_string(s.totals.usage.output_tokens) + " output tokens, $" + cost +
         (s.totals.cost_known ? "" : " (some calls unpriced)");
}

void SaveFiles(ChatSandbox& sandbox, chat::SessionStore& store, const std::string& name) {
  Result<std::string> files = sandbox.Snapshot();
  Status s = !files.ok() ? files.status() : files->empty() ? Status::Ok() : store.SaveFiles(name, *files);
  if (!s.ok()) std::cerr << "kiln chat: the sandbox's files were not saved: " << s.message() << "\n";
}

// The read-turn-print loop; returns the exit code.
int Loop(chat::Conversation& conversation, ChatSandbox& sandbox, chat::SessionStore& store,
         const ChatFlags& flags) {
  LineReader in;
  std::atomic<bool> cancel{false};
  std::atomic<bool> in_turn{false};
  const bool tty = in.tty();
  SetInterruptHandler([&cancel, &in_turn, tty] {
    if (in_turn.load()) {
      cancel = true;
      Emit(stderr, "\n[interrupting: the answer and any running tool call stop]\n");
      return true;
    }
    if (tty) Emit(stderr, "\n(Ctrl-D ends the session)\n");
    return tty;
  });
  const std::string& name = conversation.session().name;
  const char* no_color = std::getenv("NO_COLOR");  // no-color.org: set and not empty
  TurnPrinter printer(flags.images_dir, name,
                      isatty(STDOUT_FILENO) != 0 && (no_color == nullptr || *no_color == '\0'));
  std::string line;
  while (in.Read(&line)) {
    if (Trim(line).empty()) continue;
    cancel = false;
    in_turn = true;
    Result<chat::TurnOutcome> out = conversation.Turn(line, cancel, printer.Callbacks());
    in_turn = false;
    printer.EndTurn();
    if (!out.ok()) std::cerr << "kiln chat: " << out.status().message() << "\n";
    if (out.ok() && out->interrupted) Emit(stdout, "[interrupted]\n");
    if (out.ok() && out->tool_calls > 0) SaveFiles(sandbox, store, name);
  }
  SetInterruptHandler({});
  if (tty) std::cout << "\n";
  std::cerr << "kiln chat: session " << name << ": " << TotalsLine(conversation.session())
            << "; continue with kiln chat --session " << name << "\n";
  return 0;
}

int Chat(const ChatFlags& flags) {
  if (flags.list) return ListSessions();
  if (!flags.remove.empty()) return RemoveSession(flags.remove);
  // Before any thread starts, so that every thread leaves the stop signals to the signal thread.
  ExitCleanlyOnSignals({});
  if (Status traced = trace::InstallFromEnvironment(); !traced.ok()) {
    std::cerr << "kiln chat: tracing: " << traced.message() << "\n";
    return kKilnError;
  }
  Result<ChatRun> run = PrepareRun(flags);
  if (!run.ok()) {
    std::cerr << "kiln chat: " << run.status().message() << "\n";
    return kKilnError;
  }
  ChatSandbox sandbox(run->session.template_name, static_cast<int64_t>(std::ceil(flags.lifetime_s * 1000)),
                      run->session.files_tgz);
  ScopedSignalCleanup on_signal([&sandbox] { sandbox.Kill(); }, {});
  tools::ToolRunner runner(&run->registry, [&sandbox] { return sandbox.Make(); });
  chat::ConversationOptions options;
  options.system = flags.system.empty() ? kSystemPrompt : flags.system;
  options.stream = !flags.no_stream;
  options.condense_at_tokens = flags.condense_at;
  options.budget_usd = flags.budget_usd;
  const bool continued = !run->session.messages.empty() || !run->session.summary.empty();
  chat::Conversation conversation(run->session, run->model.get(), &runner, run->store.get(), &run->prices,
                                  options);
  if (continued) {
    std::string note = "This conversation continues in a new sandbox: ";
    note += run->session.files_tgz.empty() ? "no files were saved earlier"
                                           : "the files of /home/user were restored";
    note += ", but Python variables and imports from before are gone.";
    if (Status s = conversation.Note(note); !s.ok()) std::cerr << "kiln chat: " << s.message() << "\n";
  }
  if (isatty(STDIN_FILENO)) {
    std::cout << "kiln chat: session " << run->session.name << " (" << run->model->model() << ", "
              << run->registry.tools().size() << " tools" << (continued ? ", continued" : "")
              << "); Ctrl-C stops an answer, Ctrl-D ends\n";
  }
  int code = Loop(conversation, sandbox, *run->store, flags);
  (void)trace::ShutdownGlobal();
  return code;
}

}  // namespace

void AddChatCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ChatFlags>();
  CLI::App* chat =
      app.add_subcommand("chat", "Chat with a model that calls tools in a sandbox (sessions kept)");
  chat->add_option("--session", flags->session,
                   "Session name: continues it if it exists (default: a new one)");
  chat->add_option("--model", flags->model,
                   "Model string, e.g. openai:gpt-4o (default: the session's, $KILN_MODEL)");
  chat->add_option("--tools", flags->tools_file, "Tool registry file (default: the built-in tools)");
  chat->add_option("--template", flags->template_name,
                   "Run the sandbox on a built template (kiln template list)");
  chat->add_option("--images", flags->images_dir,
                   "Directory for images from tool results (default kiln-chat-images)");
  chat->add_option("--system", flags->system, "System instructions instead of the built-in ones");
  chat->add_option("--lifetime", flags->lifetime_s, "Sandbox lifetime in seconds (default 3600)");
  chat->add_option("--budget", flags->budget_usd,
                   "Stop calling the model once the session cost this many USD");
  chat->add_option(
      "--condense-at", flags->condense_at,
      "Condense the history once a call's input exceeds this many tokens (default 100000; 0: never)");
  chat->add_flag("--no-stream", flags->no_stream, "Print each answer whole instead of as it is generated");
  chat->add_flag("--list", flags->list, "List the stored sessions");
  chat->add_option("--rm", flags->remove, "Remove a stored session");
  chat->callback([flags, &exit_code] { exit_code = Chat(*flags); });
}

}  // namespace kiln::cli
