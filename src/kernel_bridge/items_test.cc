#include "kiln/kernel_bridge/items.h"

#include <gtest/gtest.h>

namespace kiln::kernel_bridge {
namespace {

Message Iopub(const std::string& type, Json content) {
  Message m = NewMessage(type, "s", std::move(content));
  m.parent_header = {{"msg_id", "cell"}};
  return m;
}

TEST(StripAnsi, RemovesColoursCursorMovesAndOsc) {
  EXPECT_EQ(StripAnsi("\x1b[0;31mZeroDivisionError\x1b[0m: division"), "ZeroDivisionError: division");
  EXPECT_EQ(StripAnsi("a\x1b[2Kb\x1b[1;32;40mc"), "abc");
  EXPECT_EQ(StripAnsi("\x1b]0;title\x07text"), "text");
  EXPECT_EQ(StripAnsi("\x1b]8;;http://x\x1b\\link"), "link");
  EXPECT_EQ(StripAnsi("plain \xc3\xa9t\xc3\xa9"), "plain \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(StripAnsi("cut\x1b"), "cut");
}

TEST(ResultItem, MapsEveryKnownMimeType) {
  Json bundle = {{"text/plain", "'abc'"},
                 {"text/html", "<b>x</b>"},
                 {"text/markdown", "**x**"},
                 {"text/latex", "$x$"},
                 {"image/svg+xml", "<svg/>"},
                 {"image/png", "iVBORw0K"},
                 {"image/jpeg", "/9j/"},
                 {"application/pdf", "JVBER"},
                 {"application/json", {{"a", 1}}},
                 {"application/javascript", "alert(1)"},
                 {"application/vnd.custom", "dropped"}};
  Json item = ResultItem(bundle, true);
  EXPECT_EQ(item, Json({{"type", "result"},
                        {"text", "abc"},
                        {"html", "<b>x</b>"},
                        {"markdown", "**x**"},
                        {"latex", "$x$"},
                        {"svg", "<svg/>"},
                        {"png", "iVBORw0K"},
                        {"jpeg", "/9j/"},
                        {"pdf", "JVBER"},
                        {"json", {{"a", 1}}},
                        {"javascript", "alert(1)"},
                        {"is_main_result", true},
                        {"extra", Json::object()}}));
}

TEST(ResultItem, TextDetails) {
  EXPECT_EQ(ResultItem({{"text/plain", "[1] \"/home/user\""}}, true)["text"], "[1] \"/home/user\"");
  EXPECT_EQ(ResultItem({{"text/plain", "\"q\""}}, true)["text"], "q");
  EXPECT_EQ(ResultItem({{"text/plain", "'a\""}}, true)["text"], "'a\"");  // unmatched: kept
  EXPECT_EQ(ResultItem({{"text/plain", {"line1\n", "line2"}}}, true)["text"], "line1\nline2");
  EXPECT_EQ(ResultItem({{"application/json", "{\"k\": [1]}"}}, false)["json"], Json({{"k", {1}}}));
  EXPECT_EQ(ResultItem(Json::object(), false),
            Json({{"type", "result"}, {"is_main_result", false}, {"extra", Json::object()}}));
}

TEST(ItemForIopub, StreamsResultsDisplaysAndErrors) {
  EXPECT_EQ(*ItemForIopub(Iopub("stream", {{"name", "stdout"}, {"text", "hi\n"}})),
            Json({{"type", "stdout"}, {"text", "hi\n"}}));
  EXPECT_EQ((*ItemForIopub(Iopub("stream", {{"name", "stderr"}, {"text", "w"}})))["type"], "stderr");
  Json main =
      *ItemForIopub(Iopub("execute_result", {{"data", {{"text/plain", "2"}}}, {"execution_count", 1}}));
  EXPECT_EQ(main["is_main_result"], true);
  EXPECT_EQ(main["text"], "2");
  Json shown = *ItemForIopub(
      Iopub("display_data", {{"data", {{"text/html", "<i>h</i>"}}}, {"metadata", Json::object()}}));
  EXPECT_EQ(shown["is_main_result"], false);
  EXPECT_EQ(shown["html"], "<i>h</i>");
  Json error = *ItemForIopub(Iopub("error", {{"ename", "ZeroDivisionError"},
                                             {"evalue", "division by zero"},
                                             {"traceback",
                                              {"\x1b[0;31m----\x1b[0m", "\x1b[0;32mCell\x1b[0m 1/0",
                                               "ZeroDivisionError: division by zero"}}}));
  EXPECT_EQ(error, Json({{"type", "error"},
                         {"name", "ZeroDivisionError"},
                         {"value", "division by zero"},
                         {"traceback", "----\nCell 1/0\nZeroDivisionError: division by zero"}}));
  EXPECT_FALSE(ItemForIopub(Iopub("status", {{"execution_state", "idle"}})));
  EXPECT_FALSE(ItemForIopub(Iopub("execute_input", {{"code", "1"}})));
}

TEST(EnvVarCode, PythonAndROnly) {
  std::vector<std::pair<std::string, std::string>> env = {{"K", "a \"quoted\" value\n"}};
  auto python = EnvVarCode("Python", env);
  ASSERT_TRUE(python);
  EXPECT_NE(python->first.find(R"({"K":"a \"quoted\" value\n"})"), std::string::npos) << python->first;
  EXPECT_NE(python->second.find("_kiln_saved_env"), std::string::npos);
  auto r = EnvVarCode("R", env);
  ASSERT_TRUE(r);
  EXPECT_NE(r->first.find(R"("K" = "a \"quoted\" value\n")"), std::string::npos) << r->first;
  EXPECT_FALSE(EnvVarCode("julia", env));
  EXPECT_FALSE(EnvVarCode("python", {}));
}

}  // namespace
}  // namespace kiln::kernel_bridge
