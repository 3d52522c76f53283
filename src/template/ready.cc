#include "kiln/template/ready.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "kiln/client/envd_client.h"

namespace kiln::tmpl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kOutputTailBytes = 2048;
constexpr int64_t kMaxAttemptMs = 10'000;

void AppendTail(std::string& sink, std::string_view bytes) {
  sink.append(bytes);
  if (sink.size() > 2 * kOutputTailBytes) sink.erase(0, sink.size() - kOutputTailBytes);
}

std::string Tail(std::string s) {
  if (s.size() > kOutputTailBytes) s = "..." + s.substr(s.size() - kOutputTailBytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "(none)" : s;
}

Status Prefixed(const TemplateInfo& info, const std::string& what, const Status& s) {
  return Status(s.code(), "template '" + info.name + "': " + what + ": " + s.message());
}

// bash -l -c as the SDK runs commands; the start command in a session of its own with its output in the
// log, so that the call returns as soon as it is launched.
Status LaunchStartCommand(const TemplateInfo& info, const client::EnvdClient& envd) {
  client::ProcessConfig start;
  start.cmd = "/bin/bash";
  start.args = {"-l", "-c",
                std::string("setsid /bin/bash -l -c \"$1\" </dev/null >") + kStartCommandLog + " 2>&1 &",
                "kiln-start-cmd", info.start_cmd};
  client::StartOptions options;
  options.timeout_ms = kMaxAttemptMs;
  std::string output;
  auto keep = [&output](std::string_view b) { AppendTail(output, b); };
  Result<client::ProcessExit> launched = envd.Start(start, options, {nullptr, keep, keep, nullptr});
  if (!launched.ok())
    return Prefixed(info, "starting the start command `" + info.start_cmd + "`", launched.status());
  if (launched->exit_code != 0)
    return Internal("template '" + info.name + "': the start command `" + info.start_cmd +
                    "` could not be launched (" + launched->status + "): " + Tail(output));
  return Status::Ok();
}

}  // namespace

Status StartAndAwaitReady(const TemplateInfo& info, const client::EnvdClient& envd) {
  if (info.start_cmd.empty()) return Status::Ok();
  auto deadline = Clock::now() + std::chrono::seconds(info.ready_timeout_s);
  KILN_RETURN_IF_ERROR(LaunchStartCommand(info, envd));
  if (info.ready_cmd.empty()) return Status::Ok();
  client::ProcessConfig ready;
  ready.cmd = "/bin/bash";
  ready.args = {"-l", "-c", info.ready_cmd};
  std::string last_output, last_result = "never ran";
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    client::StartOptions options;
    options.timeout_ms = std::min(left, kMaxAttemptMs);
    std::string output;
    auto keep = [&output](std::string_view b) { AppendTail(output, b); };
    Result<client::ProcessExit> r = envd.Start(ready, options, {nullptr, keep, keep, nullptr});
    if (r.ok() && r->exit_code == 0) return Status::Ok();
    if (!r.ok() && r.status().code() != Code::kDeadlineExceeded)
      return Prefixed(info, "running the ready command `" + info.ready_cmd + "`", r.status());
    last_output = output;
    last_result = r.ok() ? r->status : "timed out after " + std::to_string(options.timeout_ms) + " ms";
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
    pause = std::min(pause * 2, std::chrono::milliseconds(250));
  }
  Result<std::string> log = envd.Read(kStartCommandLog);
  return DeadlineExceeded("template '" + info.name + "': the sandbox was not ready within " +
                          std::to_string(info.ready_timeout_s) + " s: the ready command `" + info.ready_cmd +
                          "` never exited 0 (last: " + last_result + "; its output: " + Tail(last_output) +
                          "); the start command `" + info.start_cmd +
                          "` printed: " + (log.ok() ? Tail(*log) : "(" + log.status().message() + ")"));
}

// $1 start command, $2 ready command, $3 ready timeout (s), $4 template name, $5 the start command's log,
// $6 the exit code when not ready, then the program.
constexpr char kStartAndReadyScript[] = R"script(start=$1 ready=$2 limit=$3 name=$4 log=$5 not_ready=$6
shift 6
setsid /bin/bash -l -c "$start" </dev/null >"$log" 2>&1 &
if [ -n "$ready" ]; then
  end=$((SECONDS + limit))
  until timeout 10 /bin/bash -l -c "$ready" </dev/null >/tmp/kiln-ready-cmd.out 2>&1; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "kiln: template '$name': the sandbox was not ready within $limit s: the ready command \`$ready\`" \
        "never exited 0 (its output: $(tail -c 2048 /tmp/kiln-ready-cmd.out)); the start command \`$start\`" \
        "printed: $(tail -c 2048 "$log")" >&2
      exit "$not_ready"
    fi
    sleep 0.05
  done
  rm -f /tmp/kiln-ready-cmd.out
fi
exec "$@")script";

std::vector<std::string> WithStartAndReady(const TemplateInfo& info, std::vector<std::string> argv) {
  if (info.start_cmd.empty()) return argv;
  std::vector<std::string> out = {"/bin/bash",
                                  "-c",
                                  kStartAndReadyScript,
                                  "kiln-template",
                                  info.start_cmd,
                                  info.ready_cmd,
                                  std::to_string(info.ready_timeout_s),
                                  info.name,
                                  kStartCommandLog,
                                  std::to_string(kNotReadyExitCode)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace kiln::tmpl
