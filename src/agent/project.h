// Internal to kiln_agent_cli: the project written by `kiln agent --out DIR`.
#pragma once

#include <string>

#include "kiln/agent/agent.h"
#include "kiln/artifact/artifact.h"

namespace kiln::agent {

// main.py (final code), README.md (task, how to run, verdict), requirements.txt (third-party imports),
// metadata.json (task, model, attempts, tokens, cost, timings, verdict). `name` is the project's folder name.
artifact::Project MakeAgentProject(const AgentResult& result, const std::string& name, bool scripted);

// Writes the project into `dir` and `dir`.tar.gz next to it. Returns the archive's path.
Result<std::string> WriteAgentProject(const AgentResult& result, const std::string& dir, bool scripted);

}  // namespace kiln::agent
