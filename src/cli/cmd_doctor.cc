// `kiln doctor [--fix] [--json]`: can this host run sandboxes, with which limits, and what did a crashed
// Kiln leave behind (removed with --fix).
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/base/install_paths.h"
#include "kiln/runtime/doctor.h"

namespace kiln::cli {
namespace {

struct DoctorFlags {
  bool fix = false;
  bool json = false;
};

const char* LevelName(runtime::Finding::Level level) {
  switch (level) {
    case runtime::Finding::kOk:
      return "ok";
    case runtime::Finding::kWarn:
      return "warn";
    case runtime::Finding::kFail:
      return "FAIL";
  }
  return "?";
}

void PrintLeftovers(const runtime::Leftovers& left, bool fixed) {
  const char* verb = fixed ? "removed" : "found";
  for (pid_t pid : left.orphans)
    std::printf("  %s orphaned sandbox (kiln-envd pid %d, its owner is gone)\n", verb, pid);
  for (const std::string& s : left.sockets) std::printf("  %s dead socket %s\n", verb, s.c_str());
  for (const std::string& c : left.cgroups) std::printf("  %s empty sandbox cgroup %s\n", verb, c.c_str());
}

int RunDoctor(const DoctorFlags& flags) {
  std::vector<runtime::Finding> findings = runtime::CheckHost(HomeDir(""));
  runtime::Leftovers left = runtime::FindLeftovers(flags.fix);
  bool failed = false;
  for (const runtime::Finding& f : findings) failed |= f.level == runtime::Finding::kFail;
  if (flags.json) {
    nlohmann::json out = {{"version", VersionString()}, {"ok", !failed}, {"checks", nlohmann::json::array()}};
    for (const runtime::Finding& f : findings)
      out["checks"].push_back({{"check", f.check}, {"level", LevelName(f.level)}, {"detail", f.detail}});
    out["leftovers"] = {{"removed", flags.fix},
                        {"orphans", left.orphans},
                        {"sockets", left.sockets},
                        {"cgroups", left.cgroups}};
    std::printf("%s\n", out.dump(2).c_str());
    return failed ? 1 : 0;
  }
  std::printf("kiln %s\n", VersionString().c_str());
  for (const runtime::Finding& f : findings)
    std::printf("%-4s %-20s %s\n", LevelName(f.level), f.check.c_str(), f.detail.c_str());
  if (left.empty()) {
    std::printf("ok   %-20s none\n", "leftovers");
  } else {
    std::printf("%-4s %-20s\n", flags.fix ? "ok" : "warn", "leftovers");
    PrintLeftovers(left, flags.fix);
    if (!flags.fix) std::printf("  run `kiln doctor --fix` to remove them\n");
  }
  std::printf(failed ? "\nThis host cannot run Kiln sandboxes: see FAIL above.\n"
                     : "\nThis host can run Kiln sandboxes.\n");
  return failed ? 1 : 0;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<DoctorFlags>();
  CLI::App* doctor = app.add_subcommand(
      "doctor",
      "Check that this host can run sandboxes; list (and with --fix remove) what a crashed Kiln left");
  doctor->add_flag("--fix", flags->fix, "Remove leftovers: orphaned sandboxes, dead sockets, empty cgroups");
  doctor->add_flag("--json", flags->json, "Print the findings as JSON");
  doctor->callback([flags, &exit_code] { exit_code = RunDoctor(*flags); });
}

}  // namespace kiln::cli
