// `kiln notebook run IN.ipynb`: executes every code cell of an nbformat-4 notebook in one code context of a
// fresh sandbox and writes the notebook back with its outputs, as `jupyter nbconvert --to notebook
// --execute` does: by default to IN.nbconvert.ipynb (nbconvert's name), `--inplace` to IN, `-o` to OUT.
//
// Outputs follow nbformat 4: `stream` (name, text; consecutive chunks of one stream merged as nbclient
// does), `execute_result` (data, execution_count, metadata {}), `display_data`, `error` (ename, evalue,
// traceback as a list of lines); the cell's execution_count is set; markdown and raw cells, empty code cells
// and all metadata are left untouched. Multi-line strings are written as lists of lines, keys sorted,
// indent 1, as nbformat writes them. A cell that raises stops the run (exit status 1) unless
// --allow-errors; the notebook is written either way, with the outputs up to the failing cell.
// Differences from nbconvert: no `metadata.execution` timing; text/plain of a string result has its
// quotes stripped (E2B's `text`); E2B-only formats (chart, data) are not written.
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/base/strings.h"
#include "kiln/client/sandbox_watch.h"
#include "signals.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct NotebookFlags {
  std::string input, output;
  bool inplace = false, allow_errors = false;
  double timeout_s = 0;  // per cell, 0 = none (nbconvert's ExecutePreprocessor.timeout)
};

// nbformat's multi-line string: a list of lines, each but the last keeping its '\n'.
json SplitLines(const std::string& text) {
  json lines = json::array();
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string JoinSource(const json& source) {
  if (source.is_string()) return source.get<std::string>();
  std::string joined;
  for (const json& line : source) joined += line.get<std::string>();
  return joined;
}

// E2B result format -> (mime type, written as a list of lines).
const std::vector<std::tuple<const char*, const char*, bool>>& MimeTable() {
  static const std::vector<std::tuple<const char*, const char*, bool>> kTable = {
      {"text", "text/plain", true},
      {"html", "text/html", true},
      {"markdown", "text/markdown", true},
      {"latex", "text/latex", true},
      {"svg", "image/svg+xml", true},
      {"png", "image/png", false},
      {"jpeg", "image/jpeg", false},
      {"pdf", "application/pdf", false},
      {"javascript", "application/javascript", true}};
  return kTable;
}

json MimeBundle(const client::ExecutionResult& r) {
  json data = json::object();
  for (const auto& [format, mime, lines] : MimeTable()) {
    auto it = r.formats.find(format);
    if (it != r.formats.end()) data[mime] = lines ? SplitLines(it->second) : json(it->second);
  }
  if (auto it = r.formats.find("json"); it != r.formats.end()) {
    data["application/json"] = json::parse(it->second, nullptr, false);
  }
  return data;
}

// Collects one cell's outputs in stream order.
class CellOutputs {
 public:
  client::ExecuteCallbacks Callbacks() {
    client::ExecuteCallbacks cb;
    cb.on_stdout = [this](const std::string& t) { Stream("stdout", t); };
    cb.on_stderr = [this](const std::string& t) { Stream("stderr", t); };
    cb.on_result = [this](const client::ExecutionResult& r) {
      json out = {{"output_type", r.is_main_result ? "execute_result" : "display_data"},
                  {"data", MimeBundle(r)},
                  {"metadata", json::object()}};
      if (r.is_main_result) out["execution_count"] = nullptr;  // filled in Finish()
      outputs_.push_back(std::move(out));
    };
    cb.on_error = [this](const client::ExecutionError& e) {
      json traceback = json::array();
      for (const std::string& line : Split(e.traceback, '\n')) traceback.push_back(line);
      if (!traceback.empty() && traceback.back() == "") traceback.erase(traceback.size() - 1);
      outputs_.push_back(
          {{"output_type", "error"}, {"ename", e.name}, {"evalue", e.value}, {"traceback", traceback}});
    };
    return cb;
  }
  json Finish(int64_t execution_count) {
    json count = execution_count > 0 ? json(execution_count) : json(nullptr);
    for (json& out : outputs_) {
      if (out.contains("text")) out["text"] = SplitLines(out["text"].get<std::string>());
      if (out["output_type"] == "execute_result") out["execution_count"] = count;
    }
    return std::move(outputs_);
  }

 private:
  void Stream(const char* name, const std::string& text) {
    if (!outputs_.empty() && outputs_.back()["output_type"] == "stream" && outputs_.back()["name"] == name) {
      outputs_.back()["text"] = outputs_.back()["text"].get<std::string>() + text;
      return;
    }
    outputs_.push_back({{"output_type", "stream"}, {"name", name}, {"text", text}});
  }
  json outputs_ = json::array();
};

Result<json> ReadNotebook(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  json nb = json::parse(in, nullptr, false);
  if (nb.is_discarded() || !nb.is_object()) return InvalidArgument(path + ": not a JSON notebook");
  if (nb.value("nbformat", 0) != 4 || !nb.contains("cells") || !nb["cells"].is_array()) {
    return InvalidArgument(path + ": not an nbformat 4 notebook");
  }
  return nb;
}

Status WriteNotebook(const std::string& path, const json& nb) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << nb.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
  if (!out.flush()) return Unavailable("cannot write " + path);
  return Status::Ok();
}

std::string NotebookLanguage(const json& nb) {
  const json& meta = nb.value("metadata", json::object());
  std::string lang = meta.value("kernelspec", json::object()).value("language", "");
  if (lang.empty()) lang = meta.value("language_info", json::object()).value("name", "");
  lang = ToLower(lang);
  return lang.empty() ? "python" : lang;
}

// Runs the code cells in order. Returns false when a cell failed and errors are not allowed.
// The session's sandbox as its watch sees it (StartCodeSession keeps the default memory limit).
client::WatchedSandbox Watched(const CodeSession& s) {
  return client::WatchedRuntimeSandbox(s.runtime.get(), s.sandbox.id, s.sandbox.end_at_ms,
                                       sandbox::Limits{}.memory_bytes);
}

// A cell that failed because the sandbox died says so, and why, instead of naming a broken connection.
Status WithDeathCause(const Status& failure, const CodeSession& session, client::SandboxWatch& watch) {
  if (failure.code() != Code::kUnavailable) return failure;
  // The runtime notices a dead sandbox within about a second.
  std::optional<std::string> cause = watch.WaitForDeath(2'000);
  if (!cause) return failure;
  return Unavailable("the sandbox " + session.sandbox.id + " died: " + *cause);
}

Result<bool> RunCells(json& nb, CodeSession& session, bool allow_errors) {
  client::SandboxWatch watch(Watched(session), nullptr);
  for (json& cell : nb["cells"]) {
    if (cell.value("cell_type", "") != "code") continue;
    std::string source = JoinSource(cell.value("source", json("")));
    if (Trim(source).empty()) continue;  // nbclient skips empty cells
    CellOutputs outputs;
    Result<client::Execution> done = session.client->Execute(source, session.options, outputs.Callbacks());
    if (!done.ok()) return WithDeathCause(done.status(), session, watch);
    cell["outputs"] = outputs.Finish(done->execution_count);
    cell["execution_count"] = done->execution_count > 0 ? json(done->execution_count) : json(nullptr);
    if (done->error && !allow_errors) {
      std::cerr << "kiln notebook: cell " << done->execution_count << " raised " << done->error->name << ": "
                << done->error->value << "\n";
      return false;
    }
  }
  return true;
}

std::string OutputPath(const NotebookFlags& f) {
  if (!f.output.empty()) return f.output;
  if (f.inplace) return f.input;
  std::string base = f.input;
  if (base.size() > 6 && base.compare(base.size() - 6, 6, ".ipynb") == 0) base.resize(base.size() - 6);
  return base + ".nbconvert.ipynb";
}

int RunNotebook(const NotebookFlags& flags) {
  Result<json> nb = ReadNotebook(flags.input);
  if (!nb.ok()) {
    std::cerr << "kiln notebook: " << nb.status().message() << "\n";
    return kKilnError;
  }
  // Before the session exists (its runtime starts threads), so that every thread leaves these signals to us.
  ExitCleanlyOnSignals(nullptr);
  Result<std::unique_ptr<CodeSession>> session = StartCodeSession(NotebookLanguage(*nb), 0);
  if (!session.ok()) {
    std::cerr << "kiln notebook: " << session.status().message() << "\n";
    return kKilnError;
  }
  CodeSession* owned = session->get();
  ScopedSignalCleanup on_signal([owned] { (void)owned->runtime->Kill(owned->sandbox.id); }, nullptr);
  int64_t timeout_ms = static_cast<int64_t>(std::ceil(flags.timeout_s * 1000));
  (*session)->options.timeout_ms = timeout_ms;
  Result<bool> ran = RunCells(*nb, **session, flags.allow_errors);
  Status written = WriteNotebook(OutputPath(flags), *nb);
  if (!ran.ok() || !written.ok()) {
    std::cerr << "kiln notebook: " << (ran.ok() ? written : ran.status()).message() << "\n";
    return kKilnError;
  }
  return *ran ? 0 : 1;
}

}  // namespace

void AddNotebookCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<NotebookFlags>();
  CLI::App* notebook = app.add_subcommand("notebook", "Jupyter notebooks");
  notebook->require_subcommand(1);
  CLI::App* run =
      notebook->add_subcommand("run", "Execute every code cell and write the outputs (like nbconvert)");
  run->add_option("input", flags->input, "Notebook to run (nbformat 4)")->required();
  run->add_option("-o,--output", flags->output, "Where to write it (default: INPUT.nbconvert.ipynb)");
  run->add_flag("--inplace", flags->inplace, "Write the executed notebook over INPUT");
  run->add_flag("--allow-errors", flags->allow_errors, "Keep going after a cell raises (exit 0)");
  run->add_option("--timeout", flags->timeout_s, "Per-cell time limit in seconds (default: none)");
  run->callback([flags, &exit_code] { exit_code = RunNotebook(*flags); });
}

}  // namespace kiln::cli
