// The model-string factory: schemes, defaults from the environment, clear errors.
#include "kiln/llm/provider.h"

#include <gtest/gtest.h>

#include <map>

namespace kiln::llm {
namespace {

ProviderOptions WithEnv(std::map<std::string, std::string> vars) {
  ProviderOptions o;
  o.env = [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return o;
}

TEST(Factory, UnknownSchemeListsAcceptedForms) {
  auto p = MakeProvider("gpt-4o", WithEnv({}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  for (const char* form : {"openai:MODEL", "openai-chat:MODEL", "compat:MODEL@BASE_URL", "gemini:MODEL",
                           "anthropic:MODEL", "script:FILE"}) {
    EXPECT_NE(p.status().message().find(form), std::string::npos) << form;
  }
}

TEST(Factory, EmptyModelUsesKilnModel) {
  auto p = MakeProvider("", WithEnv({{"KILN_MODEL", "openai-chat:gpt-4o-mini"}, {"OPENAI_API_KEY", "k"}}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->model(), "openai-chat:gpt-4o-mini");
  EXPECT_EQ((*p)->request_model(), "gpt-4o-mini");
  EXPECT_EQ((*p)->provider_name(), "openai");
  auto none = MakeProvider("", WithEnv({}));
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);
  EXPECT_NE(none.status().message().find("KILN_MODEL"), std::string::npos);
}

TEST(Factory, MissingKeyNamesVariable) {
  for (const char* model : {"openai:gpt-4o", "openai-chat:gpt-4o"}) {
    auto p = MakeProvider(model, WithEnv({}));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
    EXPECT_NE(p.status().message().find("OPENAI_API_KEY"), std::string::npos) << p.status().message();
  }
}

TEST(Factory, CompatForms) {
  auto p = MakeProvider("compat:org/model@v2@https://openrouter.ai/api/v1/", WithEnv({}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->request_model(), "org/model@v2");
  EXPECT_EQ((*p)->provider_name(), "openai");
  auto no_url = MakeProvider("compat:llama3.2", WithEnv({}));
  EXPECT_EQ(no_url.status().code(), Code::kInvalidArgument);
  EXPECT_NE(no_url.status().message().find("BASE_URL"), std::string::npos);
  auto no_model = MakeProvider("compat:@http://localhost:1/v1", WithEnv({}));
  EXPECT_EQ(no_model.status().code(), Code::kInvalidArgument);
}

TEST(Factory, BadBaseUrl) {
  ProviderOptions o = WithEnv({{"OPENAI_API_KEY", "k"}});
  o.base_url = "api.openai.com";
  EXPECT_EQ(MakeProvider("openai:gpt-4o", o).status().code(), Code::kInvalidArgument);
}

TEST(Finish, Names) {
  EXPECT_EQ(FinishName(Finish::kToolCalls), "tool_calls");
  EXPECT_EQ(FinishName(Finish::kOther), "other");
}

}  // namespace
}  // namespace kiln::llm
