// CHECK for fuzz targets: names the broken promise on stderr before aborting, so a finding says which check
// failed (a bare __builtin_trap() per check is merged by the optimizer into one, and says nothing).
#pragma once

#include <cstdio>
#include <cstdlib>

#define KILN_FUZZ_CHECK(condition)                            \
  do {                                                        \
    if (!(condition)) {                                       \
      std::fprintf(stderr, "check failed: %s\n", #condition); \
      std::abort();                                           \
    }                                                         \
  } while (0)
