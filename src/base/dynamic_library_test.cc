#include "kiln/base/dynamic_library.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "kiln/base/curl_api.h"

namespace kiln {
namespace {

// libm ships with glibc, so it is present wherever Kiln runs.
constexpr char kPresentLibrary[] = "libm.so.6";

TEST(DynamicLibraryTest, MissingLibraryNamesItAndThePackageToInstall) {
  Result<DynamicLibrary> lib = DynamicLibrary::Open("libkiln-no-such-library.so.7", "kiln-no-such-package");
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), Code::kFailedPrecondition);
  const std::string& message = lib.status().message();
  EXPECT_NE(message.find("cannot load libkiln-no-such-library.so.7"), std::string::npos) << message;
  EXPECT_NE(message.find("install the Debian package kiln-no-such-package"), std::string::npos) << message;
  // dlerror's reason is kept, so a present-but-broken library is told apart from an absent one.
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST(DynamicLibraryTest, MissingSymbolNamesTheSymbolAndTheLibrary) {
  Result<DynamicLibrary> lib = DynamicLibrary::Open(kPresentLibrary, "libc6");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  double (*function)(double) = nullptr;
  Status s = lib->Resolve("kiln_no_such_function", &function);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("libm.so.6 has no symbol kiln_no_such_function"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("libc6"), std::string::npos) << s.message();
  EXPECT_EQ(function, nullptr);
}

TEST(DynamicLibraryTest, ResolvedFunctionIsCallable) {
  Result<DynamicLibrary> lib = DynamicLibrary::Open(kPresentLibrary, "libc6");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  EXPECT_EQ(lib->soname(), kPresentLibrary);
  double (*square_root)(double) = nullptr;
  ASSERT_TRUE(lib->Resolve("sqrt", &square_root).ok());
  EXPECT_DOUBLE_EQ(square_root(2.25), 1.5);
}

TEST(CurlApiTest, LoadsOnceForConcurrentCallers) {
  std::vector<const CurlApi*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] {
      Result<const CurlApi*> api = LoadCurlApi();
      if (api.ok()) seen[i] = *api;
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr) << LoadCurlApi().status().ToString();
  for (const CurlApi* api : seen) EXPECT_EQ(api, seen[0]);
  // The table calls the real library: its error strings are libcurl's own.
  EXPECT_STREQ(seen[0]->easy_strerror(CURLE_OK), "No error");
}

}  // namespace
}  // namespace kiln
