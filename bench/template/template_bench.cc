// Templates: create -> ready of a sandbox on a custom template (its root's directories mounted as private
// overlays) against the plain sandbox, and template build times.
//
//   build/bin/kiln_template_bench [--iterations N] [--data-science DOCKERFILE]
//
// create -> ready: Runtime::CreateSandbox, then the template's start/ready commands (none here), then the
// first command (`true` through envd, as the SDK's first commands.run) has exited. Plain and template
// sandboxes are interleaved so that machine noise hits both alike. The custom template is FROM host with
// files in /opt, /srv and /var (built into a temporary home, seconds). With --data-science the given
// Dockerfile (templates/data-science/Dockerfile) is built twice into a fresh home: cold (bootstrap and
// apt-get from the mirror, network on) and cached (every layer reused), and create -> ready is measured on
// it as well. Run as root.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/client/envd_client.h"
#include "kiln/runtime/runtime.h"
#include "kiln/template/builder.h"
#include "kiln/template/ready.h"

namespace kiln::bench {
namespace {
namespace fs = std::filesystem;

struct Stats {
  double p50 = 0, p99 = 0;
};

Stats Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

// One sandbox from creation until its first command has exited, in ms; killed afterwards.
double CreateToReady(runtime::Runtime& rt, const tmpl::TemplateInfo* t) {
  runtime::CreateOptions options;
  options.access_token = "bench";
  int64_t t0 = MonotonicNanos();
  if (t) {
    Status applied = tmpl::ApplyTemplate(*t, options.spec);
    if (!applied.ok()) Die("ApplyTemplate", applied);
    options.default_user = t->user;
  }
  Result<runtime::SandboxInfo> info = rt.CreateSandbox(options);
  if (!info.ok()) Die("CreateSandbox", info.status());
  client::EnvdClient envd(info->socket_path, options.access_token);
  if (t) {
    Status ready = tmpl::StartAndAwaitReady(*t, envd);
    if (!ready.ok()) Die("StartAndAwaitReady", ready);
  }
  Result<client::ProcessExit> ran = envd.Start({"true", {}, {}, std::nullopt}, {}, {});
  if (!ran.ok() || ran->exit_code != 0) Die("true", ran.ok() ? Internal(ran->status) : ran.status());
  double ms = (MonotonicNanos() - t0) / 1e6;
  (void)rt.Kill(info->id);
  return ms;
}

void CompareCreate(runtime::Runtime& rt, const tmpl::TemplateInfo& t, int iterations) {
  std::vector<double> plain, custom;
  for (int i = 0; i < 3; ++i) CreateToReady(rt, nullptr), CreateToReady(rt, &t);  // warm-up
  for (int i = 0; i < iterations; ++i) {
    plain.push_back(CreateToReady(rt, nullptr));
    custom.push_back(CreateToReady(rt, &t));
  }
  Stats p = Summarize(plain), c = Summarize(custom);
  std::printf("%-44s %9s %9s\n", ("create -> ready, " + std::to_string(iterations) + " each").c_str(),
              "p50 ms", "p99 ms");
  std::printf("%-44s %9.1f %9.1f\n", "plain sandbox (base)", p.p50, p.p99);
  std::printf("%-44s %9.1f %9.1f\n", ("template '" + t.name + "' (" + t.base + ")").c_str(), c.p50, c.p99);
  std::printf("%-44s %+9.1f %+9.1f\n\n", "difference", c.p50 - p.p50, c.p99 - p.p99);
}

double BuildSeconds(tmpl::BuildRequest req, tmpl::TemplateInfo* out) {
  auto t0 = std::chrono::steady_clock::now();
  Result<tmpl::TemplateInfo> t = tmpl::BuildTemplate(req);
  if (!t.ok()) Die("building " + req.name, t.status());
  *out = *t;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int Main(int argc, char** argv) {
  int iterations = 50;
  std::string data_science;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--data-science" && i + 1 < argc) {
      data_science = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N] [--data-science DOCKERFILE]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "run as root (template builds mount overlays)\n");
    return 2;
  }
  char dir[] = "/var/tmp/kiln-template-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  std::string home = dir;
  fs::create_directories(home + "/ctx/app");
  std::ofstream(home + "/ctx/app/main.py") << "print('hello')\n";
  std::ofstream(home + "/ctx/Dockerfile")
      << "FROM host\nWORKDIR /opt/app\nCOPY app/ ./\n"
         "RUN mkdir -p /srv/data /var/lib/app && seq 1000 > /srv/data/n\n";
  tmpl::BuildRequest req;
  req.name = "custom";
  req.dockerfile = home + "/ctx/Dockerfile";
  req.home = home;
  tmpl::TemplateInfo custom;
  double cold = BuildSeconds(req, &custom), cached = BuildSeconds(req, &custom);

  Result<std::unique_ptr<runtime::Runtime>> rt = runtime::Runtime::Create(home + "/sockets");
  if (!rt.ok()) Die("Runtime::Create", rt.status());
  CompareCreate(**rt, custom, iterations);

  std::printf("%-44s %9s %9s\n", "template build", "cold s", "cached s");
  std::printf("%-44s %9.1f %9.2f\n", "custom (FROM host, COPY, RUN)", cold, cached);
  if (!data_science.empty()) {
    tmpl::BuildRequest ds;
    ds.name = "data-science";
    ds.dockerfile = data_science;
    ds.home = home;
    ds.network = true;
    tmpl::TemplateInfo built;
    double ds_cold = BuildSeconds(ds, &built), ds_cached = BuildSeconds(ds, &built);
    std::printf("%-44s %9.1f %9.2f   (%lld MiB)\n\n", "data-science (debian:bookworm, apt-get)", ds_cold,
                ds_cached, static_cast<long long>(built.size_bytes >> 20));
    CompareCreate(**rt, built, iterations);
  }
  rt->reset();
  fs::remove_all(home);
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  return kiln::bench::Main(argc, argv);
}
