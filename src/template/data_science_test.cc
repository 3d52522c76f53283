// Builds the shipped templates/data-science for real (Debian 12 bootstrapped from the machine's apt mirror,
// then Python's scientific stack from Debian's packages; network for the build only), rebuilds it from the
// cache, and runs pandas and matplotlib code in a sandbox on it. Takes minutes and the mirror: ctest label
// `slow`, which scripts/test.sh leaves out (run it with `ctest -L slow`). Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/runtime/run.h"
#include "kiln/template/builder.h"

namespace kiln::tmpl {
namespace {
namespace fs = std::filesystem;

constexpr char kAnalysis[] = R"(
import io
import matplotlib.pyplot as plt
import pandas as pd
frame = pd.DataFrame({"city": ["a", "b", "a", "b", "c"], "sales": [1, 2, 3, 4, 5]})
totals = frame.groupby("city")["sales"].sum()
print(totals.to_dict())
figure, axes = plt.subplots()
totals.plot.bar(ax=axes)
figure.savefig("/home/user/sales.png")
png = open("/home/user/sales.png", "rb").read()
print("png", png[:8] == b"\x89PNG\r\n\x1a\n", len(png) > 1000)
print(plt.get_backend())
)";

int Count(const std::string& text, const std::string& word) {
  int n = 0;
  for (size_t p = text.find(word); p != std::string::npos; p = text.find(word, p + 1)) ++n;
  return n;
}

TEST(DataScienceTemplateTest, BuildsFromTheMirrorAndRunsPandasAndMatplotlib) {
  if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
  char dir[] = "/var/tmp/kiln-data-science-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  BuildRequest req;
  req.name = "data-science";
  req.dockerfile = std::string(KILN_SOURCE_DIR) + "/templates/data-science/Dockerfile";
  req.home = dir;
  req.network = true;
  Result<TemplateInfo> t = BuildTemplate(req);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->base, "rootfs");
  EXPECT_EQ(t->memory_mb, 2048);

  // Unchanged steps: every layer from the cache.
  Result<TemplateInfo> again = BuildTemplate(req);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::ifstream log_file(again->build_log);
  std::stringstream log;
  log << log_file.rdbuf();
  EXPECT_EQ(Count(log.str(), "CACHED layer"), static_cast<int>(again->layers.size())) << log.str();

  runtime::RunRequest run;
  ASSERT_TRUE(ApplyTemplate(*again, run.spec).ok());
  run.spec.files["/home/user/analysis.py"] = kAnalysis;
  run.spec.limits.timeout_ms = 120'000;
  run.argv = {"python3", "/home/user/analysis.py"};
  run.user = again->user;
  Result<runtime::RunResult> r = runtime::Run(run);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "{'a': 4, 'b': 6, 'c': 5}\npng True True\nagg\n") << r->stderr_data;

  run.argv = {"python3", "/opt/data-science/check.py"};
  r = runtime::Run(run);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  for (const char* module :
       {"numpy ", "pandas ", "matplotlib ", "scipy ", "sklearn ", "seaborn ", "openpyxl ", "fit slope 4.0"})
    EXPECT_NE(r->stdout_data.find(module), std::string::npos) << module << " not in " << r->stdout_data;
  // The network was for the build only: a sandbox on the template has none.
  run.argv = {
      "python3", "-c",
      "import socket\ntry:\n  socket.create_connection(('deb.debian.org', 80), 3)\n  print('reached')\n"
      "except OSError:\n  print('no network')\n"};
  r = runtime::Run(run);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_data, "no network\n") << r->stderr_data;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::tmpl
