#include "kiln/envd/multipart.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kiln::envd
