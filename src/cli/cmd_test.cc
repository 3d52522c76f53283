// `kiln test DIR [--cmd CMD]`: runs a project's test suite in a fresh sandbox. The sandbox gets a copy of
// DIR's files in its own /home/user/project (a tmpfs: whatever the tests write or delete, the checkout is
// never touched), no network unless --network, and limits; the command is detected when not given
// (checks::DetectTestCommand). Output streams as it comes; the results are the runner's JUnit XML when it
// wrote $KILN_JUNIT, else its exit status, printed in check-docs' formats. Exit status: 0 when the tests
// passed, 1 when they failed, 125 when Kiln could not run them.
#include <cmath>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "kiln/base/strings.h"
#include "kiln/checks/project_tests.h"
#include "kiln/checks/report.h"
#include "kiln/runtime/run.h"

namespace kiln::cli {
namespace {

constexpr std::string_view kJunitMark = "\036kiln-test-junit\036";

struct TestFlags {
  std::string dir;
  std::string cmd;
  std::string format = "text";
  std::string output;
  bool network = false;
  double timeout_s = 600;
  int64_t memory_mb = 1024;
  double cpus = 2;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the command in the copy; afterwards the JUnit file, if any, follows a mark on stdout (base64).
std::string Wrapper(const checks::TestCommand& command, const checks::ProjectSnapshot& snap) {
  std::string script = "cd /home/user/project || exit 125\n";
  for (const std::string& exe : snap.executables) script += "chmod +x -- " + ShellQuote(exe) + "\n";
  script += std::string("export KILN_JUNIT=") + checks::kJunitPath + "\nrm -f \"$KILN_JUNIT\"\nbash -c " +
            ShellQuote(command.command) + "\nrc=$?\n" +
            "if [ -s \"$KILN_JUNIT\" ]; then printf '\\036kiln-test-junit\\036'; base64 -w0 \"$KILN_JUNIT\"; "
            "fi\nexit $rc\n";
  return script;
}

// Streams stdout up to the JUnit mark, holding back what could be its beginning.
class StdoutFilter {
 public:
  void Feed(std::string_view data) {
    if (done_) return;
    pending_ += data;
    size_t mark = pending_.find(kJunitMark);
    if (mark != std::string::npos) {
      Emit(pending_.substr(0, mark));
      done_ = true;
      return;
    }
    size_t keep = std::min(pending_.size(), kJunitMark.size() - 1);
    Emit(pending_.substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
  }
  void Finish() {
    if (!done_) Emit(pending_);
  }

 private:
  static void Emit(std::string_view s) {
    std::cout.write(s.data(), static_cast<std::streamsize>(s.size()));
    std::cout.flush();
  }
  std::string pending_;
  bool done_ = false;
};

std::vector<checks::CaseResult> Results(const TestFlags& flags, const checks::TestCommand& command,
                                        const runtime::RunResult& run) {
  std::vector<checks::CaseResult> cases;
  size_t mark = run.stdout_data.find(kJunitMark);
  std::string junit_note;
  if (mark != std::string::npos) {
    std::string xml;
    if (!Base64Decode(Trim(std::string_view(run.stdout_data).substr(mark + kJunitMark.size())), &xml)) {
      junit_note = "the JUnit file came back garbled";
    } else if (Result<std::vector<checks::CaseResult>> parsed = checks::ParseJunit(xml); parsed.ok()) {
      cases = std::move(*parsed);
    } else {
      junit_note = parsed.status().message();
    }
  }
  bool any_failed = false;
  for (const checks::CaseResult& c : cases) any_failed = any_failed || c.outcome == checks::Outcome::kFailed;
  if (cases.empty() || (run.exit_code != 0 && !any_failed)) {
    checks::CaseResult whole{flags.dir,
                             command.runner + ": " + command.command,
                             "",
                             0,
                             checks::Outcome::kPassed,
                             "",
                             junit_note,
                             run.duration_ms / 1000.0};
    if (run.exit_code != 0) {
      whole.outcome = checks::Outcome::kFailed;
      whole.message =
          run.timed_out    ? "timed out after " + std::to_string(static_cast<int>(flags.timeout_s)) + " s"
          : run.oom_killed ? "killed: out of memory (--memory " + std::to_string(flags.memory_mb) + " MB)"
                           : "exit status " + std::to_string(run.exit_code);
      whole.details = run.stderr_data.size() > 4000 ? run.stderr_data.substr(run.stderr_data.size() - 4000)
                                                    : run.stderr_data;
    }
    cases.push_back(std::move(whole));
  }
  return cases;
}

int Test(const TestFlags& flags) {
  Result<checks::Format> format = checks::ParseFormat(flags.format);
  Result<checks::TestCommand> command =
      flags.cmd.empty() ? checks::DetectTestCommand(flags.dir)
                        : Result<checks::TestCommand>(checks::TestCommand{"custom", flags.cmd});
  if (!format.ok() || !command.ok()) {
    std::cerr << "kiln test: " << (format.ok() ? command.status() : format.status()).message() << "\n";
    return kKilnError;
  }
  runtime::RunRequest request;
  request.spec.network = flags.network;
  request.spec.limits.timeout_ms = static_cast<int64_t>(std::ceil(flags.timeout_s * 1000));
  request.spec.limits.memory_bytes = flags.memory_mb << 20;
  request.spec.limits.cpus = flags.cpus;
  Result<checks::ProjectSnapshot> snap =
      checks::SnapshotProject(flags.dir, request.spec.limits.tmpfs_home_bytes / 2);
  if (!snap.ok()) {
    std::cerr << "kiln test: " << snap.status().message() << "\n";
    return kKilnError;
  }
  for (auto& [rel, content] : snap->files)
    request.spec.files["/home/user/project/" + rel] = std::move(content);
  request.argv = {"bash", "-c", Wrapper(*command, *snap)};
  std::cerr << "kiln test: " << flags.dir << ": " << command->command << "\n";
  StdoutFilter filter;
  Result<runtime::RunResult> run = runtime::Run(request, [&](int stream, std::string_view data) {
    if (stream == 1) {
      filter.Feed(data);
    } else {
      std::cerr.write(data.data(), static_cast<std::streamsize>(data.size()));
    }
  });
  filter.Finish();
  if (!run.ok()) {
    std::cerr << "kiln test: " << run.status().message() << "\n";
    return kKilnError;
  }
  checks::Report report;
  report.tool = "kiln test";
  report.cases = Results(flags, *command, *run);
  report.seconds = run->duration_ms / 1000.0;
  std::string rendered = checks::Render(report, *format);
  if (flags.output.empty()) {
    std::cout << rendered << std::flush;
  } else {
    std::ofstream out(flags.output, std::ios::binary | std::ios::trunc);
    if (!(out << rendered).flush()) {
      std::cerr << "kiln test: cannot write " << flags.output << "\n";
      return kKilnError;
    }
    std::cerr << checks::Render(report, checks::Format::kText);
  }
  return report.Failed() ? 1 : 0;
}

}  // namespace

void AddTestCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<TestFlags>();
  CLI::App* cmd = app.add_subcommand("test", "Run a project's tests in a fresh sandbox over a copy of DIR");
  cmd->add_option("dir", flags->dir, "The project's directory (never modified)")->required();
  cmd->add_option("--cmd", flags->cmd, "Test command (bash), instead of the detected one");
  cmd->add_option("--format", flags->format, "text (default), junit or github");
  cmd->add_option("-o,--output", flags->output, "Write the report to FILE (a text summary goes to stderr)");
  cmd->add_flag("--network", flags->network, "Give the sandbox network access (default: none)");
  cmd->add_option("--timeout", flags->timeout_s, "Wall-clock limit in seconds (default 600)");
  cmd->add_option("--memory", flags->memory_mb, "Memory limit in MB (default 1024)");
  cmd->add_option("--cpus", flags->cpus, "CPU limit in cores (default 2)");
  cmd->callback([flags, &exit_code] { exit_code = Test(*flags); });
}

}  // namespace kiln::cli
