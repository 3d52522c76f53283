// Conversation turns with the scripted model (script:FILE) and with a fake Chat Completions server (to see
// the requests), over the default tool registry. The runner's sandbox factory fails here: these tests cover
// the loop, and the tool calls that never reach a sandbox (bad arguments, unknown tools); kiln chat's CLI
// test runs tools in real sandboxes.
#include "kiln/chat/conversation.h"

#include <gtest/gtest.h>

#include <fstream>

#include "fake_server_test_util.h"
#include "kiln/llm/script.h"
#include "kiln/tools/registry.h"

namespace kiln::chat {
namespace {

using llm::Role;
using nlohmann::json;

std::string TempDir() {
  std::string dir = ::testing::TempDir() + "/chat-conv-XXXXXX";
  EXPECT_NE(::mkdtemp(dir.data()), nullptr);
  return dir;
}

struct Fixture {
  std::string dir = TempDir();
  std::unique_ptr<SessionStore> store;
  tools::ToolRunner runner{&tools::DefaultRegistry(), [] {
                             return Result<tools::SandboxEndpoint>(Unavailable("no sandbox in this test"));
                           }};
  llm::PriceTable prices;
  std::unique_ptr<llm::Provider> model;

  Fixture() {
    auto s = SessionStore::Open(dir + "/chat.db");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(s).value();
    EXPECT_TRUE(store->Create({"t"}).ok());
  }
  void Script(const std::string& lines) {
    std::string path = dir + "/script.jsonl";
    std::ofstream(path) << lines;
    auto p = llm::MakeScriptProvider(path);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    model = std::move(p).value();
  }
  Conversation Make(ConversationOptions options = {}) {
    auto s = store->Load("t");
    EXPECT_TRUE(s.ok());
    return Conversation(std::move(s).value(), model.get(), &runner, store.get(), &prices, options);
  }
};

TEST(ChatConversation, BadToolCallsGoBackToTheModelAsErrorsUntilItAnswers) {
  Fixture f;
  f.Script(
      R"({"tool_calls": [{"id": "c1", "name": "run_python", "arguments": {}}, {"id": "c2", "name": "run_python", "arguments": "{\"code\": \"1+"}, {"id": "c3", "name": "no_such_tool", "arguments": {}}], "usage": {"input_tokens": 50, "output_tokens": 9}}
{"text": "I could not run it.", "usage": {"input_tokens": 80, "output_tokens": 5}}
)");
  Conversation c = f.Make();
  std::atomic<bool> cancel{false};
  std::string shown;
  std::vector<std::string> called;
  TurnCallbacks cb;
  cb.on_text = [&](std::string_view d) { shown += d; };
  cb.on_tool_call = [&](const llm::ToolCall& call) { called.push_back(call.id); };
  auto out = c.Turn("run something", cancel, cb);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->text, "I could not run it.");
  EXPECT_EQ(shown, "I could not run it.");
  EXPECT_EQ(out->model_calls, 2);
  EXPECT_EQ(out->tool_calls, 3);
  EXPECT_EQ(called, (std::vector<std::string>{"c1", "c2", "c3"}));

  auto s = f.store->Load("t");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->messages.size(), 6u);
  EXPECT_EQ(s->messages[1].message.tool_calls.size(), 3u);
  const llm::Message& missing = s->messages[2].message;
  EXPECT_TRUE(missing.tool_error);
  EXPECT_NE(missing.text.find("invalid arguments for run_python"), std::string::npos) << missing.text;
  EXPECT_NE(s->messages[3].message.text.find("not valid JSON"), std::string::npos)
      << s->messages[3].message.text;
  EXPECT_NE(s->messages[4].message.text.find("no tool named 'no_such_tool'"), std::string::npos);
  EXPECT_EQ(s->messages[5].message.text, "I could not run it.");
  EXPECT_EQ(s->totals.calls, 2);
  EXPECT_EQ(s->totals.usage.input_tokens, 130);
  EXPECT_EQ(s->totals.usage.output_tokens, 14);
}

TEST(ChatConversation, CancelMarksTheCallsNotRunAndTheSessionGoesOn) {
  Fixture f;
  f.Script(
      R"({"tool_calls": [{"id": "c1", "name": "run_python", "arguments": {}}, {"id": "c2", "name": "run_python", "arguments": {}}]}
{"text": "Fine, what next?"}
)");
  Conversation c = f.Make();
  std::atomic<bool> cancel{false};
  TurnCallbacks cb;
  cb.on_tool_call = [&](const llm::ToolCall&) { cancel = true; };  // Ctrl-C during the first call
  auto out = c.Turn("do two things", cancel, cb);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->interrupted);
  EXPECT_EQ(out->tool_calls, 1);
  const auto& m = c.session().messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[3].message.tool_call_id, "c2");
  EXPECT_TRUE(m[3].message.tool_error);
  EXPECT_NE(m[3].message.text.find("interrupted"), std::string::npos);

  cancel = false;
  auto next = c.Turn("never mind", cancel, {});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->text, "Fine, what next?");
}

TEST(ChatConversation, ContinuedSessionSendsTheStoredHistory) {
  Fixture f;
  f.Script(R"({"tool_calls": [{"id": "c1", "name": "read_file", "arguments": {"nope": 1}}]}
{"text": "first answer"}
)");
  {
    Conversation c = f.Make();
    std::atomic<bool> cancel{false};
    ASSERT_TRUE(c.Turn("first line", cancel, {}).ok());
  }
  llm::testing::FakeServer server;
  llm::testing::TestOptions t(server, "/v1");
  server.PushJson(
      200,
      json::parse(
          R"({"choices":[{"index":0,"finish_reason":"stop", "message":{"role":"assistant","content":"second answer"}}], "usage":{"prompt_tokens":300,"completion_tokens":4}})"));
  auto p = llm::MakeProvider("openai-chat:gpt-4o", t.options);
  ASSERT_TRUE(p.ok());
  f.model = std::move(p).value();
  f.prices.Set("gpt-4o", {2.5, 10.0, std::nullopt});
  ConversationOptions options;
  options.system = "Be brief.";
  options.stream = false;
  Conversation c = f.Make(options);
  std::atomic<bool> cancel{false};
  std::string shown;
  TurnCallbacks cb;
  cb.on_text = [&](std::string_view d) { shown += d; };
  auto out = c.Turn("second line", cancel, cb);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(shown, "second answer");

  json sent = server.requests().at(0).json();
  json m = sent["messages"];
  ASSERT_EQ(m.size(), 6u) << m.dump(1);
  EXPECT_EQ(m[0], json::parse(R"({"role":"system","content":"Be brief."})"));
  EXPECT_EQ(m[1]["content"], "first line");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["name"], "read_file");
  EXPECT_EQ(m[3]["role"], "tool");
  EXPECT_EQ(m[3]["tool_call_id"], "c1");
  EXPECT_EQ(m[4]["content"], "first answer");
  EXPECT_EQ(m[5]["content"], "second line");
  ASSERT_TRUE(sent["tools"].is_array());
  EXPECT_EQ(sent["tools"].size(), tools::DefaultRegistry().tools().size());
  auto s = f.store->Load("t");
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->totals.cost_usd, (300 * 2.5 + 4 * 10.0) / 1e6, 1e-12);
}

TEST(ChatConversation, LongHistoryIsCondensedIntoTheSystemPrompt) {
  Fixture f;
  f.Script(R"({"text": "answer one", "usage": {"input_tokens": 5000, "output_tokens": 3}}
{"text": "The person asked one thing; it was answered."}
{"text": "answer two"}
)");
  ConversationOptions options;
  options.condense_at_tokens = 1000;
  Conversation c = f.Make(options);
  std::atomic<bool> cancel{false};
  std::vector<std::string> notes;
  TurnCallbacks cb;
  cb.on_note = [&](const std::string& n) { notes.push_back(n); };
  ASSERT_TRUE(c.Turn("line one", cancel, cb).ok());
  EXPECT_TRUE(notes.empty());
  auto out = c.Turn("line two", cancel, cb);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->text, "answer two");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("condensed: 2 earlier messages"), std::string::npos) << notes[0];

  auto s = f.store->Load("t");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->summary, "The person asked one thing; it was answered.");
  EXPECT_EQ(s->summary_upto, 2);
  ASSERT_EQ(s->messages.size(), 2u);  // line two and its answer
  EXPECT_EQ(s->messages[0].message.text, "line two");
  EXPECT_EQ(s->messages_total, 4);
  EXPECT_EQ(s->totals.calls, 3);
}

TEST(ChatConversation, BudgetStopsModelCalls) {
  Fixture f;
  f.Script(R"({"text": "one", "usage": {"input_tokens": 1000000, "output_tokens": 0}}
{"text": "two"}
)");
  f.prices.Set(f.model->model(), {1.0, 1.0, std::nullopt});
  ConversationOptions options;
  options.budget_usd = 0.5;
  Conversation c = f.Make(options);
  std::atomic<bool> cancel{false};
  ASSERT_TRUE(c.Turn("first", cancel, {}).ok());
  auto second = c.Turn("second", cancel, {});
  EXPECT_EQ(second.status().code(), Code::kResourceExhausted);
  EXPECT_NE(second.status().message().find("budget"), std::string::npos) << second.status().message();
}

}  // namespace
}  // namespace kiln::chat
