// WarmPool against real sandboxes: hits are fast and usable, the pool refills, preloads are in place, and
// shutdown leaves nothing behind.
#include "kiln/runtime/pool.h"

#include <gtest/gtest.h>

#include "kiln/base/clock.h"
#include "kiln/client/code_client.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kFillTimeoutMs = 120'000;

std::unique_ptr<Runtime> NewRuntime() {
  Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  return rt.ok() ? std::move(rt).value() : nullptr;
}

std::unique_ptr<WarmPool> NewPool(Runtime* rt, size_t size, std::vector<std::string> preload = {}) {
  PoolOptions options;
  options.size = size;
  options.preload = std::move(preload);
  Result<std::unique_ptr<WarmPool>> pool = WarmPool::Create(rt, options);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return pool.ok() ? std::move(pool).value() : nullptr;
}

std::string Eval(const SandboxInfo& info, const std::string& code) {
  client::CodeClient code_client(info.socket_path, info.access_token);
  client::ExecuteOptions options;
  options.request_timeout_ms = 30'000;
  Result<client::Execution> done = code_client.Execute(code, options);
  if (!done.ok()) return "call failed: " + done.status().ToString();
  if (done->error) return "raised " + done->error->name + ": " + done->error->value;
  return done->Text();
}

TEST(WarmPoolOptions, RejectsBadValues) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  PoolOptions options;
  options.preload = {"numpy; import os"};
  EXPECT_EQ(WarmPool::Create(rt.get(), options).status().code(), Code::kInvalidArgument);
  options.preload = {"os.path", "_x1"};
  options.max_parallel_refills = 0;
  EXPECT_EQ(WarmPool::Create(rt.get(), options).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(WarmPool::Create(nullptr, PoolOptions{}).status().code(), Code::kInvalidArgument);
}

// A host where every creation fails at once (here: a required mount that does not exist) must not make
// callers wait out their timeouts: the pool keeps the error and reports it.
TEST(WarmPool, APoolThatCannotFillSaysWhyAtOnce) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  PoolOptions options;
  options.size = 2;
  options.spec.mounts.push_back({"/nonexistent-kiln-helper", "/opt/kiln/helper", false, false});
  Result<std::unique_ptr<WarmPool>> pool = WarmPool::Create(rt.get(), options);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  int64_t start = MonotonicMillis();
  Status full = (*pool)->WaitUntilFull(kFillTimeoutMs);
  EXPECT_LT(MonotonicMillis() - start, 10'000);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.message().find("warm pool cannot fill"), std::string::npos) << full.ToString();
  EXPECT_NE(full.message().find("/nonexistent-kiln-helper"), std::string::npos) << full.ToString();
  PoolStats stats = (*pool)->stats();
  EXPECT_GE(stats.consecutive_failures, 1u);
  EXPECT_NE(stats.last_error.message().find("/nonexistent-kiln-helper"), std::string::npos);
  start = MonotonicMillis();
  Result<PooledSandbox> got = (*pool)->Acquire();
  EXPECT_LT(MonotonicMillis() - start, 10'000);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("/nonexistent-kiln-helper"), std::string::npos);
  // A second wait does not sit out its timeout either: the pool is still failing.
  start = MonotonicMillis();
  EXPECT_FALSE((*pool)->WaitUntilFull(kFillTimeoutMs).ok());
  EXPECT_LT(MonotonicMillis() - start, 1'000);
}

TEST(WarmPool, AcquireFromFilledPoolIsFastAndFirstExecuteWorks) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  std::unique_ptr<WarmPool> pool = NewPool(rt.get(), 1);
  ASSERT_TRUE(pool->WaitUntilFull(kFillTimeoutMs).ok());
  Result<PooledSandbox> got = pool->Acquire();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->from_pool);
  EXPECT_LT(got->acquire_ms, 50);
  int64_t start = MonotonicMillis();
  EXPECT_EQ(Eval(got->info, "x = 41\nx + 1"), "42");
  EXPECT_LT(MonotonicMillis() - start, 1000);
  EXPECT_EQ(pool->stats().hits, 1u);
  EXPECT_EQ(pool->stats().misses, 0u);
  EXPECT_TRUE(pool->Release(got->info.id).ok());
  EXPECT_EQ(pool->Release(got->info.id).code(), Code::kNotFound);
}

TEST(WarmPool, RefillsToItsSize) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  std::unique_ptr<WarmPool> pool = NewPool(rt.get(), 2);
  ASSERT_TRUE(pool->WaitUntilFull(kFillTimeoutMs).ok());
  Result<PooledSandbox> a = pool->Acquire();
  Result<PooledSandbox> b = pool->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(pool->WaitUntilFull(kFillTimeoutMs).ok());
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.ready, 2u);
  EXPECT_EQ(stats.refills, 4u);
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.failures, 0u);
  // Acquired sandboxes are the caller's: 2 acquired + 2 ready.
  EXPECT_EQ(rt->List().size(), 4u);
}

TEST(WarmPool, EmptyPoolCreatesSynchronouslyAndCountsAMiss) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  std::unique_ptr<WarmPool> pool = NewPool(rt.get(), 0, {"json"});
  Result<PooledSandbox> got = pool->Acquire();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->from_pool);
  EXPECT_EQ(Eval(got->info, "import sys\n'json' in sys.modules"), "True");
  EXPECT_EQ(pool->stats().misses, 1u);
  EXPECT_EQ(pool->stats().hits, 0u);
}

TEST(WarmPool, PreloadedModulesAreImportedAndTheFontCacheIsBuilt) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  std::unique_ptr<WarmPool> pool = NewPool(rt.get(), 1, {"numpy", "pandas", "matplotlib"});
  ASSERT_TRUE(pool->WaitUntilFull(kFillTimeoutMs).ok()) << pool->stats().failures << " failures";
  Result<PooledSandbox> got = pool->Acquire();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Eval(got->info, "import sys\nall(m in sys.modules for m in ('numpy', 'pandas', 'matplotlib'))"),
            "True");
  EXPECT_EQ(
      Eval(got->info, "import os, glob\nbool(glob.glob(os.environ['MPLCONFIGDIR'] + '/fontlist-*.json'))"),
      "True");
  // Already imported: the user's import is a dictionary lookup.
  int64_t start = MonotonicMillis();
  EXPECT_NE(Eval(got->info, "import numpy as np, pandas as pd\nnp.__version__"), "");
  EXPECT_LT(MonotonicMillis() - start, 200);
}

TEST(WarmPool, ShutdownLeavesNoSandboxBehind) {
  std::unique_ptr<Runtime> rt = NewRuntime();
  ASSERT_TRUE(rt);
  std::unique_ptr<WarmPool> pool = NewPool(rt.get(), 2);
  ASSERT_TRUE(pool->WaitUntilFull(kFillTimeoutMs).ok());
  Result<PooledSandbox> got = pool->Acquire();  // starts a refill, in flight during Shutdown
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(pool->Release(got->info.id).ok());
  pool->Shutdown();
  EXPECT_TRUE(rt->List().empty());
  EXPECT_EQ(pool->Acquire().status().code(), Code::kFailedPrecondition);
  pool->Shutdown();  // idempotent
}

}  // namespace
}  // namespace kiln::runtime
