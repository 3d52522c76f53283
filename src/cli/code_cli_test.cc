// Black-box tests of `kiln notebook run` and `kiln repl` (driven through a pipe) against real sandboxes.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell_test_util.h"

namespace {

using nlohmann::json;

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

const std::string kKiln = KILN_BINARY;

class CodeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln-code-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::filesystem::copy_file(std::string(KILN_TESTDATA) + "/smoke.ipynb", dir_ / "smoke.ipynb");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  json Load(const std::string& name) const {
    std::ifstream in(Path(name));
    return json::parse(in, nullptr, false);
  }
  std::filesystem::path dir_;
};

std::string Joined(const json& lines) {
  if (lines.is_string()) return lines.get<std::string>();
  std::string s;
  for (const json& l : lines) s += l.get<std::string>();
  return s;
}

TEST_F(CodeCli, NotebookRunWritesNbformat4OutputsAndStopsAtTheError) {
  Outcome o = Shell(kKiln + " notebook run " + Path("smoke.ipynb") + " 2>&1");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("ZeroDivisionError"), std::string::npos) << o.out;
  json nb = Load("smoke.nbconvert.ipynb");
  ASSERT_FALSE(nb.is_discarded()) << "not JSON";
  EXPECT_EQ(nb["nbformat"], 4);
  const json& cells = nb["cells"];
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0], Load("smoke.ipynb")["cells"][0]);  // markdown untouched
  const json& printed = cells[1]["outputs"];
  ASSERT_EQ(printed.size(), 1u) << printed;
  EXPECT_EQ(printed[0]["output_type"], "stream");
  EXPECT_EQ(printed[0]["name"], "stdout");
  EXPECT_EQ(printed[0]["text"], json({"hello\n", "world\n"}));
  EXPECT_EQ(cells[1]["execution_count"], 1);
  const json& value = cells[2]["outputs"];
  ASSERT_EQ(value.size(), 1u) << value;
  EXPECT_EQ(value[0]["output_type"], "execute_result");
  EXPECT_EQ(Joined(value[0]["data"]["text/plain"]), "42");
  EXPECT_EQ(value[0]["execution_count"], 2);
  EXPECT_EQ(value[0]["metadata"], json::object());
  bool image = false;
  for (const json& out : cells[3]["outputs"]) {
    if (out["output_type"] == "display_data" && out["data"].contains("image/png")) {
      image = out["data"]["image/png"].get<std::string>().rfind("iVBORw0KGgo", 0) == 0;
    }
  }
  EXPECT_TRUE(image) << cells[3]["outputs"];
  const json& error = cells[4]["outputs"];
  ASSERT_EQ(error.size(), 1u) << error;
  EXPECT_EQ(error[0]["output_type"], "error");
  EXPECT_EQ(error[0]["ename"], "ZeroDivisionError");
  EXPECT_TRUE(error[0]["traceback"].is_array());
  EXPECT_EQ(cells[5]["outputs"], json::array());  // never ran
  EXPECT_TRUE(cells[5]["execution_count"].is_null());
}

TEST_F(CodeCli, NotebookAllowErrorsRunsToTheEnd) {
  Outcome o = Shell(kKiln + " notebook run --allow-errors -o " + Path("out.ipynb") + " " +
                    Path("smoke.ipynb") + " 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  json nb = Load("out.ipynb");
  ASSERT_FALSE(nb.is_discarded());
  const json& last = nb["cells"][5]["outputs"];
  ASSERT_EQ(last.size(), 2u) << last;
  EXPECT_EQ(Joined(last[0]["text"]), "after the error\n");
  EXPECT_EQ(Joined(last[1]["data"]["text/plain"]), "20");
  EXPECT_FALSE(std::filesystem::exists(Path("smoke.nbconvert.ipynb")));
}

TEST_F(CodeCli, NotebookRejectsWhatIsNotANotebook) {
  std::ofstream(Path("bad.ipynb")) << "{\"nbformat\": 3, \"cells\": []}";
  EXPECT_EQ(Shell(kKiln + " notebook run " + Path("bad.ipynb") + " 2>&1").exit_code, 125);
}

TEST_F(CodeCli, ReplThroughAPipeRunsBlocksAndSavesImages) {
  std::ofstream(Path("input.py")) << "for i in range(2):\n"
                                     "    print(i)\n"
                                     "\n"
                                     "x = (1 +\n"
                                     "     2)\n"
                                     "x * 7\n"
                                     "import matplotlib.pyplot as plt\n"
                                     "plt.plot([1, 2]); plt.show()\n"
                                     "1 / 0\n"
                                     "print('still here')\n";
  Outcome o = Shell("cd " + dir_.string() + " && " + kKiln + " repl < input.py 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("0\n1\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("21\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[image saved: kiln-repl-images/image-1.png]"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("ZeroDivisionError"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("still here\n"), std::string::npos) << o.out;
  std::ifstream png(Path("kiln-repl-images/image-1.png"), std::ios::binary);
  std::string magic(4, '\0');
  png.read(magic.data(), 4);
  EXPECT_EQ(magic, "\x89PNG");
}

TEST_F(CodeCli, ReplOtherLanguages) {
  Outcome bash = Shell("printf 'echo hi from bash\\n' | " + kKiln + " repl --lang bash 2>&1");
  EXPECT_EQ(bash.exit_code, 0) << bash.out;
  EXPECT_NE(bash.out.find("hi from bash"), std::string::npos) << bash.out;
  Outcome js =
      Shell("printf 'function f(a) {\\n  return a * 2;\\n}\\nf(21)\\n' | " + kKiln + " repl --lang js 2>&1");
  EXPECT_EQ(js.exit_code, 0) << js.out;
  EXPECT_NE(js.out.find("42"), std::string::npos) << js.out;
}

TEST_F(CodeCli, ReplRejectsUnknownLanguage) {
  EXPECT_EQ(Shell("echo 1 | " + kKiln + " repl --lang cobol 2>&1").exit_code, 125);
}

}  // namespace
