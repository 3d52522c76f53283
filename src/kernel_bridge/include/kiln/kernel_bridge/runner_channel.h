// kiln-envd's private runner channel, as seen from a runner (the protocol of src/envd/runner/python_runner.py
// and src/envd/include/kiln/envd/code_context.h): requests arrive on fd 3 and events leave on fd 4, each
// frame a 4-byte big-endian length and that many bytes of UTF-8 JSON.
//
//   request  {"type":"execute","code":str,"env_vars":{str:str},"token":str}
//   events   the /execute items (stdout, stderr, result, error), then {"type":"done"} once the runner has
//            written the end marker "\x1eKILN:<token>\x1e" to its stdout and stderr.
//
// Thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/kernel_bridge/wire.h"

namespace kiln::kernel_bridge {

// A frame: the 4-byte big-endian length of `payload`, then `payload`.
std::string FrameBytes(std::string_view payload);

class RunnerChannel {
 public:
  RunnerChannel(int request_fd, int event_fd) : request_fd_(request_fd), event_fd_(event_fd) {}

  // The next request (blocking). Unavailable at end of file (envd closed the channel: time to exit);
  // InvalidArgument for a frame that is not a JSON object.
  Result<Json> ReadRequest();
  // Writes one event frame. Unavailable when envd is gone.
  Status SendEvent(const Json& event);
  // Writes the end marker for `token` to fds 1 and 2, then sends {"type":"done"}.
  Status FinishCell(const std::string& token);

 private:
  int request_fd_;
  int event_fd_;
};

}  // namespace kiln::kernel_bridge
