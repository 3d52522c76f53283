// SessionStore against a real SQLite file in a temporary directory.
#include "kiln/chat/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace kiln::chat {
namespace {

using llm::Message;
using llm::Role;

std::string TempDb() {
  std::string dir = ::testing::TempDir() + "/chat-store-XXXXXX";
  EXPECT_NE(::mkdtemp(dir.data()), nullptr);
  return dir + "/home/chat.db";
}

TEST(ChatStore, MessagesTotalsAndFilesSurviveReopening) {
  std::string path = TempDb();
  {
    auto store = SessionStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Create({"data-1", "script:x.jsonl", "tools.yaml", "py"}).ok());
    ASSERT_TRUE((*store)->Append("data-1", {Role::kUser, "load it", {}, "", "", false}).ok());
    Message call{Role::kAssistant, "", {{"c1", "run_python", "{\"code\": \"1+"}}, "", "", false};
    auto seq = (*store)->Append("data-1", call);
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 2);
    ASSERT_TRUE((*store)->Append("data-1", {Role::kTool, "SyntaxError", {}, "c1", "run_python", true}).ok());
    llm::Usage u;
    u.input_tokens = 100;
    u.output_tokens = 7;
    ASSERT_TRUE((*store)->AddUsage("data-1", u, {0.25, true}).ok());
    ASSERT_TRUE((*store)->AddUsage("data-1", u, {0, false}).ok());
    ASSERT_TRUE((*store)->SaveFiles("data-1", std::string("\x1f\x8b\0tar", 6)).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the session database must be private";

  auto store = SessionStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto s = (*store)->Load("data-1");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->model, "script:x.jsonl");
  EXPECT_EQ(s->tools_file, "tools.yaml");
  EXPECT_EQ(s->template_name, "py");
  ASSERT_EQ(s->messages.size(), 3u);
  EXPECT_EQ(s->messages[1].message.tool_calls.at(0).arguments_json, "{\"code\": \"1+");  // kept as written
  EXPECT_EQ(s->messages[2].message.role, Role::kTool);
  EXPECT_TRUE(s->messages[2].message.tool_error);
  EXPECT_EQ(s->messages[2].message.tool_call_id, "c1");
  EXPECT_EQ(s->totals.calls, 2);
  EXPECT_EQ(s->totals.usage.input_tokens, 200);
  EXPECT_DOUBLE_EQ(s->totals.cost_usd, 0.25);
  EXPECT_FALSE(s->totals.cost_known);
  EXPECT_EQ(s->files_tgz, std::string("\x1f\x8b\0tar", 6));
}

TEST(ChatStore, SummaryHidesTheMessagesItStandsFor) {
  auto store = SessionStore::Open(TempDb());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Create({"s"}).ok());
  for (const char* text : {"one", "two", "three"})
    ASSERT_TRUE((*store)->Append("s", {Role::kUser, text, {}, "", "", false}).ok());
  ASSERT_TRUE((*store)->SaveSummary("s", "said one and two", 2).ok());
  auto s = (*store)->Load("s");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->summary, "said one and two");
  ASSERT_EQ(s->messages.size(), 1u);
  EXPECT_EQ(s->messages[0].message.text, "three");
  EXPECT_EQ(s->messages_total, 3);
}

TEST(ChatStore, NamesListAndRemove) {
  auto store = SessionStore::Open(TempDb());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Create({"../etc"}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*store)->Create({""}).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*store)->Create({"a"}).ok());
  ASSERT_TRUE((*store)->Create({"b"}).ok());
  EXPECT_EQ((*store)->Create({"a"}).code(), Code::kAlreadyExists);
  ASSERT_TRUE((*store)->Append("a", {Role::kUser, "hi", {}, "", "", false}).ok());
  auto list = (*store)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");  // used last
  EXPECT_EQ((*list)[0].messages_total, 1);
  ASSERT_TRUE((*store)->Remove("a").ok());
  EXPECT_EQ((*store)->Remove("a").code(), Code::kNotFound);
  auto gone = (*store)->Load("a");
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("kiln chat --list"), std::string::npos);
}

}  // namespace
}  // namespace kiln::chat
