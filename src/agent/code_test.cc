#include "kiln/agent/code.h"

#include <gtest/gtest.h>

namespace kiln::agent {
namespace {

using Source = ExtractedCode::Source;

TEST(ExtractCode, FirstPythonBlockWinsOverEarlierOtherBlocks) {
  const char* reply =
      "Install it first:\n```bash\npip install "
      "x\n```\nThen:\n```python\nprint(1)\n```\nor:\n```python\nprint(2)\n```\n";
  const ExtractedCode c = ExtractCode(reply);
  EXPECT_EQ(c.source, Source::kPythonBlock);
  EXPECT_EQ(c.code, "print(1)\n");
  EXPECT_EQ(c.language, "python");
}

TEST(ExtractCode, PythonLabelVariants) {
  for (const char* label : {"py", "python3", "Python", "py3", "python title=\"main.py\""}) {
    const ExtractedCode c = ExtractCode(std::string("```") + label + "\nx = 1\n```");
    EXPECT_EQ(c.source, Source::kPythonBlock) << label;
    EXPECT_EQ(c.code, "x = 1\n") << label;
  }
}

TEST(ExtractCode, UnlabeledOrOtherLanguageBlockWhenNoPython) {
  ExtractedCode c = ExtractCode("Here:\n```\nprint('a')\n```\n```js\nconsole.log(1)\n```");
  EXPECT_EQ(c.source, Source::kOtherBlock);
  EXPECT_EQ(c.code, "print('a')\n");
  EXPECT_EQ(c.language, "");
  c = ExtractCode("```javascript\nconsole.log(1)\n```");
  EXPECT_EQ(c.source, Source::kOtherBlock);
  EXPECT_EQ(c.language, "javascript");
}

TEST(ExtractCode, WholeReplyWhenNoFence) {
  const ExtractedCode c = ExtractCode("\n\nprint('hello')\nprint('bye')\n\n");
  EXPECT_EQ(c.source, Source::kWholeReply);
  EXPECT_EQ(c.code, "print('hello')\nprint('bye')\n");
}

TEST(ExtractCode, ProseWithoutAFenceIsNoCode) {
  EXPECT_EQ(ExtractCode("Sorry, I cannot help with that request.").source, Source::kNone);
  EXPECT_EQ(ExtractCode("Here is the program:\nprint('hi')\n").source, Source::kNone);
  EXPECT_EQ(ExtractCode("I would need to know which file you mean before I can write it").source,
            Source::kNone);
  // Code shapes are not prose: statements, calls, assignments, comments, indented lines.
  const ExtractedCode c = ExtractCode(
      "from typing import List\n# add up the list of numbers given\ntotal = sum([1, 2])\n"
      "assert total is not None\nif total:\n    print(total)\n");
  EXPECT_EQ(c.source, Source::kWholeReply);
}

TEST(ExtractCode, NoCode) {
  EXPECT_EQ(ExtractCode("").source, Source::kNone);
  EXPECT_EQ(ExtractCode("  \n\t\n ").source, Source::kNone);
  // Fences present but empty: no code (not the whole reply with its fences).
  const ExtractedCode c = ExtractCode("Sorry:\n```python\n\n   \n```\n");
  EXPECT_EQ(c.source, Source::kNone);
  EXPECT_TRUE(c.code.empty());
}

TEST(ExtractCode, UnclosedFenceRunsToTheEnd) {
  const ExtractedCode c = ExtractCode("```python\nfor i in range(3):\n    print(i)\n");
  EXPECT_EQ(c.source, Source::kPythonBlock);
  EXPECT_EQ(c.code, "for i in range(3):\n    print(i)\n");
}

TEST(ExtractCode, TildeFencesAndLongerFences) {
  EXPECT_EQ(ExtractCode("~~~python\nx = 2\n~~~\n").code, "x = 2\n");
  // A ```` fence holds a ``` line inside it.
  const ExtractedCode c = ExtractCode("````python\ns = '''\n```\n'''\n````\n");
  EXPECT_EQ(c.code, "s = '''\n```\n'''\n");
  // A tilde fence is not closed by backticks.
  EXPECT_EQ(ExtractCode("~~~\na = 1\n```\nb = 2\n~~~").code, "a = 1\n```\nb = 2\n");
}

TEST(ExtractCode, KeepsIndentationAndStripsFenceIndent) {
  EXPECT_EQ(ExtractCode("```python\n    return x\n```").code, "    return x\n");
  EXPECT_EQ(ExtractCode("1. Step:\n   ```python\n   if x:\n       y()\n   ```").code, "if x:\n    y()\n");
  EXPECT_EQ(ExtractCode("```python\r\nprint(1)\r\n```\r\n").code, "print(1)\n");
}

TEST(ExtractCode, InlineTripleBackticksAreNotFences) {
  const ExtractedCode c = ExtractCode("Use ```print``` here");
  EXPECT_EQ(c.source, Source::kWholeReply);
}

TEST(DefinesFunction, TopLevelOnly) {
  EXPECT_TRUE(DefinesFunction("import math\ndef f(x):\n    return x\n", "f"));
  EXPECT_TRUE(DefinesFunction("async def f (x): pass\n", "f"));
  EXPECT_FALSE(DefinesFunction("def foo(x): pass\n", "f"));
  EXPECT_FALSE(DefinesFunction("class A:\n    def f(self): pass\n", "f"));
}

TEST(CompleteFromStub, FullFunctionKeptBodyCompleted) {
  const std::string stub = "def add(a, b):\n    \"\"\"Add.\"\"\"\n";
  EXPECT_EQ(CompleteFromStub("def add(a, b):\n    return a + b\n", stub, "add"),
            "def add(a, b):\n    return a + b\n");
  EXPECT_EQ(CompleteFromStub("    return a + b\n", stub, "add"), stub + "    return a + b\n");
  // A whole function gets the stub's imports it lacks.
  const std::string typed =
      "from typing import List\nimport math\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Doc.\"\"\"\n";
  EXPECT_EQ(CompleteFromStub("import math\ndef f(xs):\n    return 1\n", typed, "f"),
            "from typing import List\n\nimport math\ndef f(xs):\n    return 1\n");
  // An unindented body is indented.
  EXPECT_EQ(CompleteFromStub("s = a + b\nreturn s\n", stub, "add"), stub + "    s = a + b\n    return s\n");
}

TEST(AssembleProgram, TestsAfterCodeWithSentinel) {
  Program p = AssembleProgram("print(1)", "");
  EXPECT_FALSE(p.has_tests);
  EXPECT_EQ(p.source, "print(1)\n");
  EXPECT_EQ(p.code_lines, 1);
  p = AssembleProgram("a = 1\nb = 2\n", "assert a == 1\n");
  EXPECT_TRUE(p.has_tests);
  EXPECT_EQ(p.code_lines, 2);
  EXPECT_EQ(p.source.rfind("a = 1\nb = 2\n\nassert a == 1\n", 0), 0u);
  EXPECT_NE(p.source.find(kTestsPassedSentinel), std::string::npos);
}

TEST(StripSentinel, RemovesOnlyTheSentinelLine) {
  std::string out = "hello\n\n" + std::string(kTestsPassedSentinel) + "\n";
  EXPECT_TRUE(StripSentinel(&out));
  EXPECT_EQ(out, "hello\n");
  out = "no sentinel\n";
  EXPECT_FALSE(StripSentinel(&out));
  EXPECT_EQ(out, "no sentinel\n");
}

}  // namespace
}  // namespace kiln::agent
