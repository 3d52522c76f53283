#include "kiln/envd/gzip.h"

#include <cstdlib>
#include <string>

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

constexpr size_t kOutChunk = 64 * 1024;
constexpr int kGzipWindow = 15 + 16;  // zlib's "gzip wrapper" window bits

}  // namespace

GzipInflater::GzipInflater(uint64_t max_output) : max_output_(max_output) {
  ok_ = ::inflateInit2(&z_, kGzipWindow) == Z_OK;
}

GzipInflater::~GzipInflater() {
  if (ok_) ::inflateEnd(&z_);
}

Status GzipInflater::Feed(std::string_view in, const ChunkFn& out) {
  if (!ok_) return Internal("zlib could not start inflating");
  std::string buf(kOutChunk, '\0');
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z_.avail_in = static_cast<uInt>(in.size());
  bool output_pending = false;  // the last round filled the buffer: zlib may hold more output
  while (z_.avail_in > 0 || output_pending) {
    if (z_.avail_in > 0) in_member_ = true;
    z_.next_out = reinterpret_cast<Bytef*>(buf.data());
    z_.avail_out = static_cast<uInt>(buf.size());
    int rc = ::inflate(&z_, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return InvalidArgument(std::string("the gzip-encoded body is corrupt: ") +
                             (z_.msg ? z_.msg : "inflate failed"));
    size_t got = buf.size() - z_.avail_out;
    output_pending = z_.avail_out == 0;
    produced_ += got;
    if (produced_ > max_output_)
      return ResourceExhausted("the gzip-encoded body inflates to more than " + std::to_string(max_output_) +
                               " bytes, the limit of one upload");
    if (got > 0) KILN_RETURN_IF_ERROR(out(std::string_view(buf.data(), got)));
    if (rc == Z_STREAM_END) {
      in_member_ = false;
      ::inflateReset(&z_);  // concatenated members (gzip -c a b) are one stream of bytes
    } else if (rc == Z_BUF_ERROR && got == 0) {
      break;  // needs more input than this chunk holds
    }
  }
  return Status::Ok();
}

Status GzipInflater::Finish() const {
  if (in_member_) return InvalidArgument("the gzip-encoded body is truncated");
  return Status::Ok();
}

GzipDeflater::GzipDeflater() {
  ok_ = ::deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipDeflater::~GzipDeflater() {
  if (ok_) ::deflateEnd(&z_);
}

Status GzipDeflater::Run(std::string_view in, int flush, const ChunkFn& out) {
  if (!ok_) return Internal("zlib could not start deflating");
  std::string buf(kOutChunk, '\0');
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z_.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    z_.next_out = reinterpret_cast<Bytef*>(buf.data());
    z_.avail_out = static_cast<uInt>(buf.size());
    int rc = ::deflate(&z_, flush);
    if (rc == Z_STREAM_ERROR) return Internal("deflate failed");
    size_t got = buf.size() - z_.avail_out;
    if (got > 0) KILN_RETURN_IF_ERROR(out(std::string_view(buf.data(), got)));
    if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_.avail_out != 0 && z_.avail_in == 0)) return Status::Ok();
  }
}

Status GzipDeflater::Feed(std::string_view in, const ChunkFn& out) {
  return Run(in, Z_NO_FLUSH, out);
}

Status GzipDeflater::Finish(const ChunkFn& out) {
  return Run({}, Z_FINISH, out);
}

bool AcceptsGzip(std::string_view accept_encoding) {
  for (const std::string& item : Split(accept_encoding, ',')) {
    std::string_view token = Trim(item);
    std::string_view coding = Trim(token.substr(0, token.find(';')));
    if (!EqualsIgnoreCase(coding, "gzip") && coding != "*") continue;
    size_t q = token.find("q=");
    if (q == std::string_view::npos) return true;
    std::string value(Trim(token.substr(q + 2)));
    if (std::strtod(value.c_str(), nullptr) > 0) return true;
  }
  return false;
}

}  // namespace kiln::envd
