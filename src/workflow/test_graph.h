// The graph the workflow tests share: plan -> effect -> check -(count < 3)-> plan, else -> ask -> end.
// `effect` is side-effecting: each run appends a line to `effects_file`, so tests can count runs across
// processes. `ask` interrupts until it gets an answer.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "kiln/workflow/engine.h"

namespace kiln::workflow::testing {

struct TestGraph {
  std::string effects_file;
  std::function<void()> inside_effect;  // called after the effect happened, before the node returns
  CutOffPolicy effect_policy = CutOffPolicy::kRerun;
  Graph graph;

  void Build() {
    graph.AddChannel("log", Reducer::kAppend)
        .AddChannel("count", Reducer::kSum)
        .AddChannel("answer", Reducer::kReplace)
        .AddNode("plan",
                 [](const NodeContext&) -> Result<NodeOutput> {
                   return NodeOutput::Update({{"log", "plan"}, {"count", 1}});
                 })
        .AddNode(
            "effect",
            [this](const NodeContext& ctx) -> Result<NodeOutput> {
              int fd = open(effects_file.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
              std::string line = ctx.thread_id + " " + std::to_string(ctx.step) + "\n";
              if (fd < 0 || write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
                return Internal("cannot write " + effects_file);
              }
              close(fd);
              if (inside_effect) inside_effect();
              return NodeOutput::Update({{"log", "effect"}});
            },
            StepKind::kSideEffect, effect_policy)
        .AddNode("check",
                 [](const NodeContext&) -> Result<NodeOutput> {
                   return NodeOutput::Update({{"log", "check"}});
                 })
        .AddNode("ask",
                 [](const NodeContext& ctx) -> Result<NodeOutput> {
                   if (!ctx.answer)
                     return NodeOutput::Ask({{"question", "ship it?"}, {"count", ctx.state["count"]}});
                   return NodeOutput::Update({{"answer", *ctx.answer}, {"log", "ask"}});
                 })
        .AddEdge("plan", "effect")
        .AddEdge("effect", "check")
        .AddRoute("check", [](const Json& s) { return s["count"].get<int>() < 3 ? "plan" : "ask"; })
        .AddEdge("ask", kEnd)
        .SetEntry("plan");
  }
};

inline int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

}  // namespace kiln::workflow::testing
