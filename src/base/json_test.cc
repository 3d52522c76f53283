#include "kiln/base/json.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(JsonTest, InvalidUtf8BecomesReplacementCharactersInsteadOfThrowing) {
  nlohmann::json value = {{"id", std::string("ab\xff") + "c"}};
  EXPECT_THROW((void)value.dump(), nlohmann::json::type_error);  // why DumpJson exists
  std::string text = DumpJson(value);
  EXPECT_EQ(text,
            "{\"id\":\"ab\xEF\xBF\xBD"
            "c\"}");
  EXPECT_EQ(nlohmann::json::parse(text)["id"],
            "ab\xEF\xBF\xBD"
            "c");
}

TEST(JsonTest, ValidTextIsUnchangedAndIndentIsHonoured) {
  nlohmann::json value = {{"text", "caf\xC3\xA9"}};
  EXPECT_EQ(DumpJson(value), value.dump());
  EXPECT_EQ(DumpJson(value, 2), value.dump(2));
}

}  // namespace
}  // namespace kiln
