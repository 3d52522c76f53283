// Socket plumbing shared by sudo's two ends (sudo_server.cc, sudo_shim.cc): the abstract address and the
// length-prefixed frames. Internal to kiln_envd_lib.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstdint>
#include <string>

#include "kiln/base/status.h"

namespace kiln::envd::sudo_io {

// The socket address for this pid namespace (the caller's own: /proc/self/ns/pid).
Result<sockaddr_un> OwnAddress(socklen_t* length);
// Writes all of `data`, retrying on EINTR. MSG_NOSIGNAL: a gone peer is an error, not SIGPIPE.
Status SendAll(int fd, const char* data, size_t size);
// Reads exactly `size` bytes; NotFound on EOF before the first byte, DataLoss on EOF in the middle.
Status RecvAll(int fd, char* data, size_t size);
// A 4-byte big-endian length followed by the bytes.
std::string Frame(const std::string& body);
// Reads one frame of at most `max_bytes`; InvalidArgument past it.
Result<std::string> RecvFrame(int fd, size_t max_bytes);

}  // namespace kiln::envd::sudo_io
