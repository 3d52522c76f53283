// Micro-benchmarks of the coding agent's CPU work (everything except the model and the sandbox).
#include <benchmark/benchmark.h>

#include "kiln/agent/agent.h"
#include "kiln/agent/humaneval.h"
#include "kiln/artifact/artifact.h"
#include "testing/fakes.h"

namespace kiln::agent {
namespace {

std::string LongReply() {
  std::string reply = "Here is my reasoning.\n";
  for (int i = 0; i < 200; ++i) reply += "Some prose line " + std::to_string(i) + " about the approach.\n";
  reply += "```python\n";
  for (int i = 0; i < 300; ++i) reply += "x" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  return reply + "```\nDone.\n";
}

std::string NoisyStderr() {
  std::string err;
  for (int i = 0; i < 20000; ++i) err += "warning: noisy log line number " + std::to_string(i) + "\n";
  return err +
         "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 5, in <module>\n"
         "    main()\nNameError: name 'x' is not defined\n";
}

void BM_ExtractCode(benchmark::State& state) {
  const std::string reply = LongReply();
  for (auto _ : state) benchmark::DoNotOptimize(ExtractCode(reply));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(reply.size()));
}
BENCHMARK(BM_ExtractCode);

void BM_ParseTraceback(benchmark::State& state) {
  const std::string err = NoisyStderr();
  for (auto _ : state) benchmark::DoNotOptimize(ParsePythonTraceback(err));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(err.size()));
}
BENCHMARK(BM_ParseTraceback);

void BM_BuildFeedback(benchmark::State& state) {
  Execution e;
  e.exit_code = 1;
  e.stderr_data = NoisyStderr();
  e.stdout_data = e.stderr_data;
  const Verdict v = Judge(e, AssembleProgram("print(x)\n", ""), false);
  for (auto _ : state) benchmark::DoNotOptimize(BuildFeedback(v, &e, ExecRequest{}));
}
BENCHMARK(BM_BuildFeedback);

void BM_DetectRequirements(benchmark::State& state) {
  std::string code;
  for (int i = 0; i < 100; ++i) code += "import os\nimport numpy as np\nfrom sklearn import svm\nx = 1\n";
  for (auto _ : state) benchmark::DoNotOptimize(artifact::DetectRequirements(code));
}
BENCHMARK(BM_DetectRequirements);

void BM_LoadHumanEval(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(LoadHumanEval(DefaultHumanEvalPath()));
}
BENCHMARK(BM_LoadHumanEval)->Unit(benchmark::kMillisecond);

// Three attempts (error, error, pass) with an instant model and executor: the loop's own overhead.
void BM_AgentLoopThreeAttempts(benchmark::State& state) {
  FunctionExecutor executor([](const ExecRequest& req) -> Result<Execution> {
    Execution e;
    if (req.code.find("bad") != std::string::npos) {
      e.exit_code = 1;
      e.stderr_data =
          "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
          "NameError: name 'bad' is not defined\n";
    }
    return e;
  });
  for (auto _ : state) {
    testing::RecordingProvider provider(
        {"```python\nbad\n```", "```python\nbad()\n```", "```python\nprint('ok')\n```"});
    benchmark::DoNotOptimize(RunAgent(provider, executor, Task{"say ok"}));
  }
}
BENCHMARK(BM_AgentLoopThreeAttempts);

}  // namespace
}  // namespace kiln::agent

BENCHMARK_MAIN();
