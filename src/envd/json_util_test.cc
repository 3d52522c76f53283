#include "kiln/envd/json_util.h"

#include <gtest/gtest.h>

namespace kiln::envd {
namespace {

TEST(ParseRequestJsonTest, AcceptsObjectsOnly) {
  EXPECT_TRUE(ParseRequestJson("").ok());
  EXPECT_TRUE(ParseRequestJson("{\"a\":1}").ok());
  EXPECT_EQ(ParseRequestJson("{not json").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseRequestJson("[1]").status().code(), Code::kInvalidArgument);
}

TEST(JsonFieldsTest, CamelAndSnakeNames) {
  Json j = Json::parse(R"({"exit_code": 3, "includeEntry": true, "unknown": {"x": 1}})");
  EXPECT_EQ(*GetInt(j, "exitCode", "exit_code"), 3);
  EXPECT_TRUE(*GetBool(j, "includeEntry", "include_entry"));
  EXPECT_FALSE(*GetBool(j, "missing"));
}

TEST(JsonFieldsTest, Int64AsStringOrNumber) {
  Json j = Json::parse(R"({"a": "42", "b": 7, "c": "x", "d": 1.5, "e": null})");
  EXPECT_EQ(*GetInt(j, "a"), 42);
  EXPECT_EQ(*GetInt(j, "b"), 7);
  EXPECT_EQ(GetInt(j, "c").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(GetInt(j, "d").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(*GetInt(j, "e"), 0);  // null is the default
}

TEST(JsonFieldsTest, TypeMismatchIsInvalidArgument) {
  Json j = Json::parse(R"({"path": 5, "args": ["a", 1], "envs": {"A": 1}})");
  EXPECT_EQ(GetString(j, "path").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(GetStringList(j, "args").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(GetStringMap(j, "envs").status().code(), Code::kInvalidArgument);
}

TEST(JsonFieldsTest, BytesAreBase64) {
  Json j = Json::parse(R"({"a": "aGkK", "b": "aGk", "c": "", "d": "!!"})");
  EXPECT_EQ(*GetBytes(j, "a"), "hi\n");
  EXPECT_EQ(*GetBytes(j, "b"), "hi");
  EXPECT_EQ(*GetBytes(j, "c"), "");
  EXPECT_EQ(GetBytes(j, "d").status().code(), Code::kInvalidArgument);
}

TEST(ParseEnumTest, NamesAndNumbers) {
  std::vector<EnumName> names = {{"SIGNAL_SIGTERM", 15}, {"SIGNAL_SIGKILL", 9}};
  EXPECT_EQ(*ParseEnum(Json("SIGNAL_SIGKILL"), names, "signal"), 9);
  EXPECT_EQ(*ParseEnum(Json(15), names, "signal"), 15);
  EXPECT_EQ(ParseEnum(Json("SIGNAL_NOPE"), names, "signal").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseEnum(Json(true), names, "signal").status().code(), Code::kInvalidArgument);
}

std::string JsonString(std::string_view text) {
  std::string out = "[";
  AppendJsonString(&out, text);
  return out + "]";
}

TEST(AppendJsonStringTest, MatchesJsonDumpOnValidText) {
  std::string all;
  for (int c = 0; c < 128; ++c) all.push_back(static_cast<char>(c));
  for (std::string text : {std::string(), std::string("hello\n"), all, std::string("é ∑ 𝄞 \"q\" \\ end")}) {
    std::string ours;
    AppendJsonString(&ours, text);
    EXPECT_EQ(ours, Json(text).dump()) << text;
    EXPECT_EQ(Json::parse(JsonString(text))[0], text);
  }
}

TEST(AppendJsonStringTest, ReplacesInvalidUtf8) {
  // A lone continuation byte, a truncated sequence at the end, an overlong '/', a UTF-16 surrogate, >
  // U+10FFFF.
  for (std::string bad : {"a\x80z", "ab\xE2\x82", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80"}) {
    Json parsed = Json::parse(JsonString(bad), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << JsonString(bad);
    EXPECT_NE(parsed[0].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
  }
  EXPECT_EQ(Json::parse(JsonString("a\x80z"))[0], "a\xEF\xBF\xBDz");
}

}  // namespace
}  // namespace kiln::envd
