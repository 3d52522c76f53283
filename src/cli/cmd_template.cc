// kiln template build NAME -f FILE [--context DIR] | list | inspect NAME | rm NAME | prune
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/template/builder.h"

namespace kiln::cli {
namespace {

struct TemplateFlags {
  std::string name, file, context;
  std::vector<std::string> build_args;
  bool network = false, no_cache = false, quiet = false, json = false;
};

int Fail(const Status& s) {
  std::cerr << "kiln template: " << s.message() << "\n";
  return s.code() == Code::kInvalidArgument ? 2 : 1;
}

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

int Build(const TemplateFlags& f) {
  tmpl::BuildRequest req;
  req.name = f.name;
  req.dockerfile = f.file;
  req.context = f.context;
  req.network = f.network;
  req.no_cache = f.no_cache;
  for (const std::string& kv : f.build_args) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail(InvalidArgument("--build-arg: expected NAME=VALUE"));
    req.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  bool tty = isatty(2);
  req.progress = [&](std::string_view line) {
    bool output = line.substr(0, 4) == "  | ";
    if (f.quiet && output) return;
    if (tty && !output) {
      std::cerr << "\033[1m" << line << "\033[0m\n";
    } else {
      std::cerr << line << "\n";
    }
  };
  Result<tmpl::TemplateInfo> t = tmpl::BuildTemplate(req);
  if (!t.ok()) {
    std::cerr << "kiln template: build failed: " << t.status().message() << "\n";
    return 1;
  }
  std::cout << "built template " << t->name << " (" << Mib(t->size_bytes) << ", " << t->layers.size()
            << " layers) in " << t->root << "\n";
  return 0;
}

nlohmann::json ToJson(const tmpl::TemplateInfo& t) {
  nlohmann::json j = nlohmann::json::parse(tmpl::TemplateInfoToJson(t));
  j["root"] = t.root;
  j["build_log"] = t.build_log;
  return j;
}

int List(const TemplateFlags& f) {
  std::vector<tmpl::TemplateInfo> all = tmpl::TemplateStore().List();
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : all) out.push_back(ToJson(t));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-24s %-18s %10s  %s\n", "NAME", "FROM", "SIZE", "CREATED");
  for (const auto& t : all) {
    std::time_t secs = t.created_ms / 1000;
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::gmtime(&secs));
    std::printf("%-24s %-18s %10s  %s UTC\n", t.name.c_str(), t.from.c_str(), Mib(t.size_bytes).c_str(),
                when);
  }
  return 0;
}

int Inspect(const TemplateFlags& f) {
  Result<tmpl::TemplateInfo> t = tmpl::TemplateStore().Get(f.name);
  if (!t.ok()) return Fail(t.status());
  std::cout << ToJson(*t).dump(2) << "\n";
  return 0;
}

}  // namespace

void AddTemplateCommand(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<TemplateFlags>();
  CLI::App* cmd = app.add_subcommand("template", "Build and manage sandbox templates (root filesystems)");
  cmd->require_subcommand(1);
  CLI::App* build = cmd->add_subcommand("build", "Build a template from a Dockerfile subset");
  build->add_option("name", f->name, "Template name (a-z, 0-9, '.', '_', '-')")->required();
  build->add_option("-f,--file", f->file, "The Dockerfile")->required()->check(CLI::ExistingFile);
  build->add_option("--context", f->context, "Directory COPY and ADD read from (default: the file's)");
  build->add_option("--build-arg", f->build_args, "ARG value NAME=VALUE (repeatable)");
  build->add_flag("--network", f->network, "Let RUN steps reach the network (apt-get, pip)");
  build->add_flag("--no-cache", f->no_cache, "Rebuild every layer");
  build->add_flag("-q,--quiet", f->quiet, "Show the steps but not their output (the build log keeps it)");
  build->callback([f, &exit_code] { exit_code = Build(*f); });
  CLI::App* list = cmd->add_subcommand("list", "List built templates");
  list->add_flag("--json", f->json, "JSON instead of a table");
  list->callback([f, &exit_code] { exit_code = List(*f); });
  CLI::App* inspect = cmd->add_subcommand("inspect", "Print a template's metadata as JSON");
  inspect->add_option("name", f->name)->required();
  inspect->callback([f, &exit_code] { exit_code = Inspect(*f); });
  CLI::App* rm = cmd->add_subcommand("rm", "Remove a template (its cached layers stay; see prune)");
  rm->add_option("name", f->name)->required();
  rm->callback([f, &exit_code] {
    Status s = tmpl::TemplateStore().Remove(f->name);
    exit_code = s.ok() ? 0 : Fail(s);
  });
  CLI::App* prune = cmd->add_subcommand("prune", "Remove every cached build layer");
  prune->callback([&exit_code] {
    Result<int> n = tmpl::TemplateStore().Prune();
    if (n.ok()) std::cout << "removed " << *n << " cached layers\n";
    exit_code = n.ok() ? 0 : Fail(n.status());
  });
}

}  // namespace kiln::cli
