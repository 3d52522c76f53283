// `kiln check-docs PATH...`: runs the code snippets of Markdown files and the doctests of Markdown and
// Python files in sandboxes (src/checks), one sandbox per file, files in parallel, and prints a report
// (text, JUnit XML or GitHub annotations). Exit status: 0 when everything passed, 1 when anything failed,
// 125 when Kiln itself could not run (bad arguments, no sandboxes).
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands.h"
#include "kiln/checks/doc_check.h"
#include "signals.h"

namespace kiln::cli {
namespace {

struct CheckDocsFlags {
  std::vector<std::string> paths;
  std::string format = "text";
  std::string output;  // "" = stdout
  int jobs = 2;
  double timeout_s = 30;
};

// Checks `files` on `jobs` threads; results keep the order of `files`.
std::vector<std::vector<checks::CaseResult>> CheckFiles(const std::vector<std::string>& files,
                                                        runtime::Runtime* runtime,
                                                        const CheckDocsFlags& flags) {
  std::vector<std::vector<checks::CaseResult>> results(files.size());
  std::atomic<size_t> next{0};
  std::mutex progress;
  checks::CheckOptions options;
  options.default_timeout_ms = static_cast<int64_t>(std::ceil(flags.timeout_s * 1000));
  auto worker = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      Result<checks::Document> doc = checks::LoadDocument(files[i]);
      if (!doc.ok()) {
        checks::CaseResult failed{
            files[i], files[i], files[i], 0, checks::Outcome::kFailed, doc.status().message(), "", 0};
        results[i] = {failed};
        continue;
      }
      std::unique_ptr<checks::SnippetExecutor> executor = checks::NewSandboxExecutor(runtime);
      results[i] = checks::CheckDocument(*doc, *executor, options);
      int failed = 0;
      for (const checks::CaseResult& r : results[i]) failed += r.outcome == checks::Outcome::kFailed;
      std::lock_guard<std::mutex> lock(progress);
      std::cerr << "kiln check-docs: " << files[i] << ": " << results[i].size() << " snippets, " << failed
                << " failed\n";
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min<int>(flags.jobs, static_cast<int>(files.size())); ++t)
    threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  return results;
}

int CheckDocs(const CheckDocsFlags& flags) {
  auto start = std::chrono::steady_clock::now();
  Result<checks::Format> format = checks::ParseFormat(flags.format);
  Result<std::vector<std::string>> files = checks::ExpandPaths(flags.paths);
  if (!format.ok() || !files.ok()) {
    std::cerr << "kiln check-docs: " << (format.ok() ? files.status() : format.status()).message() << "\n";
    return kKilnError;
  }
  if (flags.jobs < 1 || !(flags.timeout_s > 0)) {
    std::cerr << "kiln check-docs: --jobs must be >= 1 and --timeout > 0\n";
    return kKilnError;
  }
  // Before the runtime starts threads, so that every thread leaves the stop signals to us.
  ExitCleanlyOnSignals(nullptr);
  Result<std::unique_ptr<runtime::Runtime>> runtime = runtime::Runtime::Create();
  if (!runtime.ok()) {
    std::cerr << "kiln check-docs: " << runtime.status().message() << "\n";
    return kKilnError;
  }
  runtime::Runtime* owned = runtime->get();
  ScopedSignalCleanup on_signal(
      [owned] {
        for (const runtime::SandboxInfo& s : owned->List()) (void)owned->Kill(s.id);
      },
      nullptr);
  checks::Report report;
  report.tool = "kiln check-docs";
  for (std::vector<checks::CaseResult>& file : CheckFiles(*files, owned, flags))
    for (checks::CaseResult& r : file) report.cases.push_back(std::move(r));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string rendered = checks::Render(report, *format);
  if (flags.output.empty()) {
    std::cout << rendered << std::flush;
  } else {
    std::ofstream out(flags.output, std::ios::binary | std::ios::trunc);
    out << rendered;
    if (!out.flush()) {
      std::cerr << "kiln check-docs: cannot write " << flags.output << "\n";
      return kKilnError;
    }
    if (*format != checks::Format::kText) std::cerr << checks::Render(report, checks::Format::kText);
  }
  return report.Failed() ? 1 : 0;
}

}  // namespace

void AddCheckDocsCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<CheckDocsFlags>();
  CLI::App* cmd = app.add_subcommand(
      "check-docs", "Run the code blocks and doctests of Markdown and Python files in sandboxes");
  cmd->add_option("paths", flags->paths, "Files (.md, .markdown, .py) or directories to search")->required();
  cmd->add_option("--format", flags->format, "text (default), junit or github");
  cmd->add_option("-o,--output", flags->output,
                  "Write the report to FILE (a text summary still goes to stderr)");
  cmd->add_option("-j,--jobs", flags->jobs, "Files checked at once, each in its own sandbox (default 2)");
  cmd->add_option("--timeout", flags->timeout_s, "Default time limit per snippet in seconds (default 30)");
  cmd->callback([flags, &exit_code] { exit_code = CheckDocs(*flags); });
}

}  // namespace kiln::cli
