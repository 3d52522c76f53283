#include "kiln/envd/multipart.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kiln::envd {
namespace {

TEST(MultipartTest, Boundary) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=x; boundary=\"a b\""), "a b");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
}

TEST(MultipartTest, PartsKeepRawFilenames) {
  std::string body =
      "preamble\r\n--XX\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"/home/user/a.txt\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n"
      "line1\r\nline2\r\n"
      "--XX\r\n"
      "content-disposition: form-data; name=\"file\"; filename=\"dir/b \\\"q\\\".txt\"\r\n\r\n"
      "\r\n--XX\r\n"
      "Content-Disposition: form-data; name=\"other\"\r\n\r\nvalue\r\n"
      "--XX--\r\n";
  auto parts = ParseMultipart(body, "XX");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].name, "file");
  EXPECT_EQ(*(*parts)[0].filename, "/home/user/a.txt");
  EXPECT_EQ((*parts)[0].data, "line1\r\nline2");
  EXPECT_EQ(*(*parts)[1].filename, "dir/b \"q\".txt");
  EXPECT_EQ((*parts)[1].data, "");
  EXPECT_EQ((*parts)[2].name, "other");
  EXPECT_FALSE((*parts)[2].filename);
  EXPECT_EQ((*parts)[2].data, "value");
}

TEST(MultipartTest, MalformedBodies) {
  EXPECT_FALSE(ParseMultipart("no boundary here", "XX").ok());
  EXPECT_FALSE(
      ParseMultipart("--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata", "XX").ok());
  EXPECT_FALSE(ParseMultipart("--XXgarbage", "XX").ok());
  auto empty = ParseMultipart("--XX--\r\n", "XX");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Records what a MultipartReader reports, and the largest piece of data handed over at once.
class RecordingSink : public MultipartSink {
 public:
  Status OnPart(const FormPart& part) override {
    log += "[" + part.name + "]";
    return Status::Ok();
  }
  Status OnData(std::string_view data) override {
    log += data;
    largest = std::max(largest, data.size());
    return Status::Ok();
  }
  Status OnPartEnd() override {
    log += "|";
    return Status::Ok();
  }
  std::string log;
  size_t largest = 0;
};

TEST(MultipartTest, ReaderGivesTheSamePartsWhateverTheSplits) {
  const std::string body =
      "pre--X\r\n--XYZ  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--XY not yet\r\n"
      "--XYZ\r\n\r\nno headers\r\n--XYZ--\r\nepilogue";
  const std::string want = "[a]\r\n--XY not yet|[]no headers|";
  for (size_t step = 1; step <= body.size(); ++step) {
    RecordingSink sink;
    MultipartReader reader("XYZ", &sink);
    for (size_t i = 0; i < body.size(); i += step)
      ASSERT_TRUE(reader.Feed(std::string_view(body).substr(i, step)).ok()) << step;
    EXPECT_TRUE(reader.Finish().ok()) << step;
    EXPECT_EQ(sink.log, want) << "split every " << step;
  }
}

TEST(MultipartTest, ReaderHoldsLittleAndRejectsHugeHeadersAndTruncation) {
  RecordingSink sink;
  MultipartReader reader("B", &sink);
  ASSERT_TRUE(reader.Feed("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n").ok());
  const std::string piece(64 * 1024, 'd');
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(reader.Feed(piece).ok());
  EXPECT_LE(sink.largest, piece.size() + 8);                  // handed on as it arrives, not accumulated
  EXPECT_EQ(reader.Finish().code(), Code::kInvalidArgument);  // no closing delimiter
  MultipartReader huge("B", &sink);
  ASSERT_TRUE(huge.Feed("--B\r\nX-Pad: ").ok());
  EXPECT_FALSE(huge.Feed(std::string(20'000, 'p')).ok());
}

}  // namespace
}  // namespace kiln::envd
