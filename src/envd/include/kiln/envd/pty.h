// Pseudo-terminals for PTY processes (E2B `Start` with `pty`): allocation and window size.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/envd/json_util.h"

namespace kiln::envd {

struct PtySize {
  uint16_t rows = 24;
  uint16_t cols = 80;
};

// Bounds of a terminal dimension. A real terminal is never 0 wide; the upper bound keeps a client from
// asking programs to allocate screen buffers of rows * cols cells.
inline constexpr int64_t kMaxPtyDimension = 10'000;

// Parses E2B's `PTY {size:{cols,rows}}`. A dimension of 0 or above kMaxPtyDimension -> InvalidArgument.
Result<PtySize> ParsePtySize(const Json& pty);

struct Pty {
  UniqueFd master;  // close-on-exec, non-blocking: envd's end (reads output, writes input, resizes)
  UniqueFd slave;   // close-on-exec: the child's stdin/stdout/stderr and controlling terminal
};

// Opens a new terminal pair from /dev/ptmx with the given size. `owner`, if set, becomes the slave's
// owner, as login does, so that the user's programs may fchmod it (mesg, write).
Result<Pty> OpenPty(PtySize size, std::optional<uid_t> owner);

// TIOCSWINSZ on `master`: the kernel sends SIGWINCH to the terminal's foreground process group.
Status ResizePty(int master, PtySize size);

}  // namespace kiln::envd
