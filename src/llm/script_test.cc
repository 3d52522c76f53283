#include "kiln/llm/script.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace kiln::llm {
namespace {

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/kiln_llm_script_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Script, JsonLinesReplayInOrderThenExhausted) {
  std::string path = WriteTemp(
      "{\"text\":\"Let me "
      "look.\",\"tool_calls\":[{\"id\":\"c1\",\"name\":\"run\",\"arguments\":{\"cmd\":\"ls\"}}],"
      "\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}\n"
      "# a comment\n\n"
      "{\"text\":\"Done.\"}\n");
  auto p = MakeProvider("script:" + path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Provider& m = **p;
  EXPECT_EQ(m.provider_name(), "script");
  EXPECT_EQ(m.model(), "script:" + path);

  auto r1 = m.Chat({});
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->text, "Let me look.");
  ASSERT_EQ(r1->tool_calls.size(), 1u);
  EXPECT_EQ(r1->tool_calls[0].id, "c1");
  EXPECT_EQ(r1->tool_calls[0].arguments_json, R"({"cmd":"ls"})");
  EXPECT_EQ(r1->finish_reason, "tool_calls");
  EXPECT_EQ(r1->finish, Finish::kToolCalls);
  EXPECT_EQ(r1->usage.input_tokens, 10);
  EXPECT_EQ(r1->response_model, "script:" + path);
  EXPECT_EQ(r1->call.provider_name, "script");

  auto r2 = m.Chat({});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->text, "Done.");
  EXPECT_EQ(r2->finish, Finish::kStop);

  CallInfo info;
  auto r3 = m.Chat({}, &info);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r3.status().message().find("all 2 scripted responses used"), std::string::npos);
  EXPECT_NE(r3.status().message().find(path), std::string::npos);
  EXPECT_EQ(info.error_type, "script_exhausted");
  unlink(path.c_str());
}

TEST(Script, StartsAtTheGivenResponse) {
  std::string path = WriteTemp("one\n--- response ---\ntwo\n--- response ---\nthree\n");
  auto p = MakeScriptProvider(path, 1);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->Chat({})->text, "two");
  EXPECT_EQ((*p)->Chat({})->text, "three");
  EXPECT_EQ((*p)->Chat({}).status().code(), Code::kResourceExhausted);
  auto past = MakeScriptProvider(path, 7);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ((*past)->Chat({}).status().code(), Code::kResourceExhausted);
  unlink(path.c_str());
}

TEST(Script, PlainTextFormat) {
  auto r = ParseScript("Hello there.\n--- response ---\nline one\nline two\n\n--- response ---\nbye\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].text, "Hello there.");
  EXPECT_EQ((*r)[1].text, "line one\nline two");
  EXPECT_EQ((*r)[2].text, "bye");
  auto leading = ParseScript("--- response ---\nonly\n");
  ASSERT_TRUE(leading.ok());
  ASSERT_EQ(leading->size(), 1u);
}

TEST(Script, BadLinesAndMissingFiles) {
  auto bad = ParseScript("{\"text\":\"ok\"}\n{not json\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().message();
  auto nocall = ParseScript("{\"tool_calls\":[{\"id\":\"x\"}]}\n");
  EXPECT_FALSE(nocall.ok());
  auto missing = MakeProvider("script:/nonexistent/demo.jsonl");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kiln::llm
