// Streaming gzip (zlib) for REST /files: uploads with `Content-Encoding: gzip` are inflated a chunk at a time
// with a bound on the inflated size (a gzip bomb stops at the bound, not at the disk), and downloads with
// `Accept-Encoding: gzip` are deflated as they are read. Neither holds more than a chunk in memory.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "kiln/base/status.h"

namespace kiln::envd {

using ChunkFn = std::function<Status(std::string_view)>;

class GzipInflater {
 public:
  // Fails the upload (ResourceExhausted) once more than `max_output` bytes came out.
  explicit GzipInflater(uint64_t max_output);
  ~GzipInflater();
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  // Inflates `in`, handing the output to `out` in pieces. Corrupt data -> InvalidArgument.
  Status Feed(std::string_view in, const ChunkFn& out);
  // InvalidArgument if the body ended inside a gzip member (truncated upload).
  Status Finish() const;

 private:
  z_stream z_{};
  bool ok_ = false;
  bool in_member_ = false;  // between a member's first byte and its end
  const uint64_t max_output_;
  uint64_t produced_ = 0;
};

class GzipDeflater {
 public:
  GzipDeflater();
  ~GzipDeflater();
  GzipDeflater(const GzipDeflater&) = delete;
  GzipDeflater& operator=(const GzipDeflater&) = delete;

  Status Feed(std::string_view in, const ChunkFn& out);
  // Flushes the rest and the gzip trailer.
  Status Finish(const ChunkFn& out);

 private:
  Status Run(std::string_view in, int flush, const ChunkFn& out);
  z_stream z_{};
  bool ok_ = false;
};

// Whether an Accept-Encoding header value accepts gzip ("gzip", "gzip;q=0.5", "*"; not "gzip;q=0").
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace kiln::envd
