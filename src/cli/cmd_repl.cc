// `kiln repl`: an interactive session on one code context in a fresh sandbox.
//
// Input is read a block at a time: a line ending with `:` or `\`, or leaving a bracket or a triple-quoted
// string open, continues the block; a block that had a `:` line ends at a blank line. Stdout and stderr are
// streamed as they arrive, the main result's text is printed, errors print their traceback, and png/jpeg/svg
// results are saved under --images DIR (default ./kiln-repl-images) with their paths printed. On a terminal,
// input has line editing and history (~/.kiln_repl_history) when built with libedit; otherwise lines are
// read plainly and no prompt is shown, so the REPL can be driven through a pipe. EOF ends the session.
#include <termios.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#ifdef KILN_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "commands.h"
#include "kiln/base/strings.h"
#include "kiln/client/sandbox_watch.h"
#include "signals.h"

namespace kiln::cli {
namespace {

struct ReplFlags {
  std::string lang = "python";
  std::string images_dir = "kiln-repl-images";
  double timeout_s = 0;      // per cell; 0 = none
  double lifetime_s = 3600;  // of the sandbox
};

void Emit(FILE* f, std::string_view text) {
  fwrite(text.data(), 1, text.size(), f);
  fflush(f);
}

// Where a block of code stands: open brackets, an unterminated multi-line string, and the last character
// of code (not comment) on its last line.
struct Scan {
  int depth = 0;
  bool open_string = false;
  char last = 0;
};

Scan ScanCode(const std::string& code, const std::string& lang) {
  Scan s;
  std::string quote;  // the open string's delimiter, "" when outside
  bool comment = false;
  for (size_t i = 0; i < code.size(); ++i) {
    char c = code[i];
    if (c == '\n') {
      comment = false;
      s.last = 0;
      if (quote.size() == 1 && quote != "`") quote.clear();  // a one-line string cannot span lines
      continue;
    }
    if (comment) continue;
    if (!quote.empty()) {
      if (c == '\\')
        ++i;
      else if (code.compare(i, quote.size(), quote) == 0)
        i += quote.size() - 1, quote.clear();
      continue;
    }
    if (c == '#' && lang != "javascript" && lang != "typescript")
      comment = true;
    else if (c == '/' && code.compare(i, 2, "//") == 0 && lang != "python" && lang != "bash")
      comment = true;
    else if (code.compare(i, 3, "\"\"\"") == 0 || code.compare(i, 3, "'''") == 0)
      quote = code.substr(i, 3), i += 2;
    else if (c == '"' || c == '\'' || c == '`')
      quote = std::string(1, c);
    else if (c == '(' || c == '[' || c == '{')
      ++s.depth;
    else if ((c == ')' || c == ']' || c == '}') && s.depth > 0)
      --s.depth;
    if (!comment && c != ' ' && c != '\t') s.last = c;
  }
  s.open_string = !quote.empty();
  return s;
}

// True when `block` (lines joined by '\n', the last one just read) needs more lines before it runs.
bool NeedsMore(const std::string& block, const std::string& last_line, bool compound,
               const std::string& lang) {
  if (Trim(last_line).empty()) return false;
  Scan s = ScanCode(block, lang);
  return s.depth > 0 || s.open_string || s.last == ':' || s.last == '\\' || compound;
}

class LineReader {
 public:
  LineReader() : tty_(isatty(STDIN_FILENO) != 0) {
#ifdef KILN_HAVE_LIBEDIT
    if (const char* home = std::getenv("HOME"); tty_ && home)
      history_ = std::string(home) + "/.kiln_repl_history";
    if (!history_.empty()) read_history(history_.c_str());
#endif
  }
  ~LineReader() {
#ifdef KILN_HAVE_LIBEDIT
    if (!history_.empty()) write_history(history_.c_str());
#endif
  }
  // False at EOF.
  bool Read(const char* prompt, std::string* line) {
#ifdef KILN_HAVE_LIBEDIT
    if (tty_) {
      char* got = readline(prompt);
      if (got == nullptr) return false;
      *line = got;
      free(got);
      if (!Trim(*line).empty()) add_history(line->c_str());
      return true;
    }
#endif
    if (tty_) Emit(stdout, prompt);
    return static_cast<bool>(std::getline(std::cin, *line));
  }
  bool tty() const {
    return tty_;
  }

 private:
  bool tty_;
  std::string history_;
};

// Reads one block; false at EOF with nothing pending.
bool ReadBlock(LineReader& in, const std::string& lang, std::string* block) {
  block->clear();
  std::string line;
  bool compound = false;
  while (in.Read(block->empty() ? ">>> " : "... ", &line)) {
    if (block->empty() && Trim(line).empty()) continue;
    if (!block->empty()) *block += "\n";
    *block += line;
    if (!NeedsMore(*block, line, compound, lang)) return true;
    Scan s = ScanCode(line, lang);
    compound = compound || s.last == ':';
  }
  return !block->empty();
}

class Printer {
 public:
  explicit Printer(std::string images_dir) : images_dir_(std::move(images_dir)) {}

  client::ExecuteCallbacks Callbacks() {
    client::ExecuteCallbacks cb;
    cb.on_stdout = [](const std::string& t) { Emit(stdout, t); };
    cb.on_stderr = [](const std::string& t) { Emit(stderr, t); };
    cb.on_result = [this](const client::ExecutionResult& r) { OnResult(r); };
    cb.on_error = [](const client::ExecutionError& e) {
      std::string text = e.traceback.empty() ? e.name + ": " + e.value : e.traceback;
      Emit(stderr, text.back() == '\n' ? text : text + "\n");
    };
    return cb;
  }

 private:
  void OnResult(const client::ExecutionResult& r) {
    bool saved = false;
    for (const char* format : {"png", "jpeg", "svg"}) {
      std::string data = r.Get(format);
      if (!data.empty()) saved = SaveImage(format, data) || saved;
    }
    std::string text = r.Get("text");
    if (!saved && !text.empty()) Emit(stdout, text + "\n");
  }

  bool SaveImage(const std::string& format, const std::string& data) {
    std::string bytes = data;
    if (format != "svg" && !Base64Decode(data, &bytes)) {
      Emit(stderr, "kiln repl: a " + format + " result is not valid base64\n");
      return false;
    }
    std::error_code ec;
    std::filesystem::create_directories(images_dir_, ec);
    std::string path = images_dir_ + "/image-" + std::to_string(++count_) + "." + format;
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    if (!out.flush()) {
      Emit(stderr, "kiln repl: cannot write " + path + "\n");
      return false;
    }
    Emit(stdout, "[image saved: " + path + "]\n");
    return true;
  }

  std::string images_dir_;
  int count_ = 0;
};

std::string NormalizeLanguage(std::string lang) {
  lang = ToLower(Trim(lang));
  if (lang.empty()) return "python";
  if (lang == "js" || lang == "node") return "javascript";
  if (lang == "ts") return "typescript";
  return lang;
}

// The session's sandbox as its watch sees it (StartCodeSession keeps the default memory limit).
client::WatchedSandbox Watched(const CodeSession& s) {
  return client::WatchedRuntimeSandbox(s.runtime.get(), s.sandbox.id, s.sandbox.end_at_ms,
                                       sandbox::Limits{}.memory_bytes);
}

int Repl(const ReplFlags& flags) {
  std::string lang = NormalizeLanguage(flags.lang);
  if (lang != "python" && lang != "javascript" && lang != "typescript" && lang != "bash") {
    std::cerr << "kiln repl: --lang: unknown language '" << flags.lang << "' (python, javascript or bash)\n";
    return kKilnError;
  }
  termios saved{};
  const bool restore = isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  auto restore_terminal = [restore, saved] {
    if (restore) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  };
  // Before the session exists (its runtime starts threads), so that every thread leaves these signals to us.
  ExitCleanlyOnSignals(restore_terminal);
  Result<std::unique_ptr<CodeSession>> session =
      StartCodeSession(lang, static_cast<int64_t>(std::ceil(flags.lifetime_s * 1000)));
  if (!session.ok()) {
    std::cerr << "kiln repl: " << session.status().message() << "\n";
    return kKilnError;
  }
  CodeSession* owned = session->get();
  ScopedSignalCleanup on_signal(
      [owned, restore_terminal] {
        restore_terminal();
        (void)owned->runtime->Kill(owned->sandbox.id);
      },
      restore_terminal);
  CodeSession& s = **session;
  s.options.timeout_ms = static_cast<int64_t>(std::ceil(flags.timeout_s * 1000));
  LineReader in;
  if (in.tty()) std::cout << "kiln repl (" << lang << ", sandbox " << s.sandbox.id << "); Ctrl-D to quit\n";
  // The REPL mostly waits for its user: a sandbox that dies meanwhile (out of memory, lifetime over) is
  // reported at once and ends the session, rather than at the next block as a bare connection error.
  client::SandboxWatch watch(Watched(s), [&](const std::string& cause) {
    if (restore) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);  // line editing may have it in raw mode
    Emit(stderr, "\nkiln repl: the sandbox " + s.sandbox.id + " died: " + cause + "\n");
    std::_Exit(kKilnError);
  });
  Printer printer(flags.images_dir);
  std::string block;
  while (ReadBlock(in, lang, &block)) {
    Result<client::Execution> done = s.client->Execute(block, s.options, printer.Callbacks());
    if (!done.ok()) {
      std::cerr << "kiln repl: " << done.status().message() << "\n";
      if (done.status().code() == Code::kUnavailable) return kKilnError;  // the sandbox is gone
    }
  }
  if (in.tty()) std::cout << "\n";
  return 0;
}

}  // namespace

Result<std::unique_ptr<CodeSession>> StartCodeSession(const std::string& language, int64_t lifetime_ms) {
  auto session = std::make_unique<CodeSession>();
  KILN_ASSIGN_OR_RETURN(session->runtime, runtime::Runtime::Create());
  runtime::CreateOptions create;
  create.spec.limits.timeout_ms = lifetime_ms;
  create.die_with_owner = true;  // even a SIGKILL of this command takes the sandbox down
  create.spec.env["MPLCONFIGDIR"] = "/tmp/.matplotlib";
  create.env_vars["MPLCONFIGDIR"] = "/tmp/.matplotlib";
  KILN_ASSIGN_OR_RETURN(session->sandbox, session->runtime->CreateSandbox(create));
  session->client =
      std::make_unique<client::CodeClient>(session->sandbox.socket_path, session->sandbox.access_token);
  if (language != "python") {
    KILN_ASSIGN_OR_RETURN(client::CodeContext context, session->client->CreateContext(language));
    session->options.context_id = context.id;
  }
  return session;
}

void AddReplCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ReplFlags>();
  CLI::App* repl = app.add_subcommand("repl", "Interactive code session (one context) in a fresh sandbox");
  repl->add_option("--lang", flags->lang, "python (default), javascript or bash");
  repl->add_option("--images", flags->images_dir,
                   "Directory for png/jpeg/svg results (default kiln-repl-images)");
  repl->add_option("--timeout", flags->timeout_s, "Per-cell time limit in seconds (default: none)");
  repl->add_option("--lifetime", flags->lifetime_s, "Sandbox lifetime in seconds (default 3600)");
  repl->callback([flags, &exit_code] { exit_code = Repl(*flags); });
}

}  // namespace kiln::cli
