#include "flat_json.h"

#include <gtest/gtest.h>

namespace kiln::client {
namespace {

using Json = nlohmann::json;

TEST(FlatJsonTest, AgreesWithNlohmannOnStringObjects) {
  for (std::string text :
       {R"({})", R"( { "type" : "stdout" , "text":"hi\n" } )",
        R"({"type":"stderr","text":"a\"b\\c\/d\b\f\n\r\t \u00e9 \u20ac \ud834\udd1e é","timestamp":"t"})"}) {
    Json ours;
    ASSERT_TRUE(ParseFlatStringObject(text, &ours)) << text;
    EXPECT_EQ(ours, Json::parse(text)) << text;
  }
}

TEST(FlatJsonTest, DeclinesEverythingElse) {
  for (std::string text :
       {R"({"type":"result","is_main_result":true})", R"({"a":{"b":"c"}})", R"(["a"])", R"({"a":"b")",
        R"({"a":"b"} x)", R"({"a":"\x"})", R"({"a":"\ud834"})", R"({"a":"\udd1e"})", R"({"a":"\u12"})",
        "{\"a\":\"raw\ncontrol\"}", R"({"a":"b",})", R"({"a" "b"})", ""}) {
    Json untouched = "sentinel";
    EXPECT_FALSE(ParseFlatStringObject(text, &untouched)) << text;
    EXPECT_EQ(untouched, "sentinel");
  }
}

}  // namespace
}  // namespace kiln::client
