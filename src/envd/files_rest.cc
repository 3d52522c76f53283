// REST /files: download (GET) and upload (POST, multipart/form-data or application/octet-stream), both
// streamed a bounded chunk at a time: envd's memory does not grow with the file.
#include <unistd.h>

#include <cerrno>
#include <set>

#include "kiln/base/strings.h"
#include "kiln/envd/gzip.h"
#include "kiln/envd/multipart.h"
#include "kiln/envd/server.h"

namespace kiln::envd {
namespace {

constexpr size_t kDownloadChunk = 128 * 1024;

// /files names its user in the `username` query; a bad user is 401 there (E2B), not 400.
Result<Caller> RestCaller(const RootFs& root, const EnvdConfig& config, const http::Request& request) {
  std::optional<std::string> username;
  if (auto q = request.Query("username")) username = std::string(*q);
  auto caller = ResolveCaller(root, config, username);
  if (!caller.ok()) return Status(Code::kPermissionDenied, caller.status().message());
  return caller;
}

void SendRestAuthError(http::ResponseWriter& writer, const Status& error) {
  SendJson(writer, 401, {{"code", 401}, {"message", error.message()}});
}

// A failed upload. A body past its limit is 413; RestStatusFor's 507 is for the disk (no space, or the
// sandbox's file size limit) refusing what was written.
void SendUploadError(http::ResponseWriter& writer, const Status& error, bool body_failed) {
  if (!body_failed || error.code() != Code::kResourceExhausted) return SendRestError(writer, error);
  SendJson(writer, 413, {{"code", 413}, {"message", error.message()}});
}

Json WrittenEntry(const FilesystemService::OpenFile& file) {
  return Json{{"path", file.abs}, {"name", SplitParent(file.abs).second}, {"type", "file"}};
}

// Writes each part named "file" to its destination as its bytes arrive; other parts are skipped.
class UploadSink : public MultipartSink {
 public:
  UploadSink(const FilesystemService& fs, const Caller& caller, std::optional<std::string_view> path_query)
      : fs_(fs), caller_(caller), path_query_(path_query) {}

  Status OnPart(const FormPart& part) override {
    if (part.name != "file") return Status::Ok();
    std::string path =
        path_query_ && !path_query_->empty() ? std::string(*path_query_) : part.filename.value_or("");
    if (path.empty()) return InvalidArgument("a file part has neither a path query nor a filename");
    KILN_ASSIGN_OR_RETURN(std::string abs, FilesystemService::Resolve(path, caller_));
    if (!seen_.insert(abs).second) return InvalidArgument("path '" + abs + "' is given twice");
    KILN_ASSIGN_OR_RETURN(FilesystemService::OpenFile file, fs_.OpenForWrite(path, caller_));
    current_ = std::move(file);
    return Status::Ok();
  }
  Status OnData(std::string_view data) override {
    return current_ ? FilesystemService::WriteAll(*current_, data) : Status::Ok();
  }
  Status OnPartEnd() override {
    if (current_) written_.push_back(WrittenEntry(*current_));
    current_.reset();
    return Status::Ok();
  }
  const Json& written() const { return written_; }

 private:
  const FilesystemService& fs_;
  const Caller& caller_;
  std::optional<std::string_view> path_query_;
  std::set<std::string> seen_;
  std::optional<FilesystemService::OpenFile> current_;
  Json written_ = Json::array();
};

// Feeds the whole request body, a piece at a time, to `consume`, through `inflater` when the body is
// gzip-encoded; *body_failed tells a failure to receive or inflate the body from one of `consume`.
Status PumpBody(http::Request& request, const ChunkFn& consume, GzipInflater* inflater, bool* body_failed) {
  *body_failed = false;
  auto feed = [&](std::string_view piece) -> Status {
    if (!inflater) return consume(piece);
    Status failed_consume;
    Status s = inflater->Feed(piece, [&](std::string_view out) {
      failed_consume = consume(out);
      return failed_consume;
    });
    if (!s.ok() && failed_consume.ok()) *body_failed = true;  // the encoding, not the disk, failed
    return s;
  };
  auto finish = [&]() -> Status {
    Status s = inflater ? inflater->Finish() : Status::Ok();
    if (!s.ok()) *body_failed = true;
    return s;
  };
  if (!request.body_reader) {
    KILN_RETURN_IF_ERROR(feed(std::string_view(request.body)));
    return finish();
  }
  std::string chunk;
  for (;;) {
    Status read = request.body_reader->Read(&chunk);
    if (!read.ok()) {
      *body_failed = true;
      return read;
    }
    if (chunk.empty()) return finish();
    KILN_RETURN_IF_ERROR(feed(std::string_view(chunk)));
  }
}

// Sends the open file gzip-compressed, chunked (its compressed length is not known in advance).
void SendGzipped(const FilesystemService::OpenFile& file, http::ResponseWriter& writer) {
  http::Headers headers;
  headers.Set("Content-Type", "application/octet-stream");
  headers.Set("Content-Encoding", "gzip");
  if (!writer.StartStream(200, headers).ok()) return;
  GzipDeflater deflater;
  auto send = [&](std::string_view out) { return writer.Write(out); };
  std::string buf(kDownloadChunk, '\0');
  for (;;) {
    ssize_t n = ::read(file.fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return writer.Abort();
    if (n == 0) break;
    if (!deflater.Feed(std::string_view(buf.data(), static_cast<size_t>(n)), send).ok())
      return writer.Abort();
  }
  if (!deflater.Finish(send).ok()) return writer.Abort();
  (void)writer.Finish();
}

}  // namespace

void EnvdServer::ReadFile(http::Request& request, http::ResponseWriter& writer) {
  auto caller = RestCaller(root_, config_, request);
  if (!caller.ok()) return SendRestAuthError(writer, caller.status());
  auto file = filesystem_.OpenForRead(request.Query("path").value_or(""), *caller);
  if (!file.ok()) return SendRestError(writer, file.status());
  if (AcceptsGzip(request.headers.Get("Accept-Encoding").value_or(""))) return SendGzipped(*file, writer);
  http::Headers headers;
  headers.Set("Content-Type", "application/octet-stream");
  if (!writer.StartFixed(200, headers, file->size).ok()) return;
  // The length was announced from fstat: a file that shrinks meanwhile cuts the connection (the server
  // aborts a short body), one that grows is sent as it was.
  std::string buf(kDownloadChunk, '\0');
  for (uint64_t left = file->size; left > 0;) {
    ssize_t n = ::read(file->fd.get(), buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return writer.Abort();
    left -= static_cast<uint64_t>(n);
    if (!writer.Write(std::string_view(buf.data(), static_cast<size_t>(n))).ok()) return;
  }
  (void)writer.Finish();
}

void EnvdServer::WriteFiles(http::Request& request, http::ResponseWriter& writer) {
  auto caller = RestCaller(root_, config_, request);
  if (!caller.ok()) return SendRestAuthError(writer, caller.status());
  std::string_view type = request.headers.Get("Content-Type").value_or("");
  auto path_query = request.Query("path");
  std::optional<GzipInflater> inflater;
  if (auto enc = request.headers.Get("Content-Encoding"); enc && EqualsIgnoreCase(Trim(*enc), "gzip")) {
    inflater.emplace(config_.max_gzip_upload_bytes);
  } else if (enc && !EqualsIgnoreCase(Trim(*enc), "identity")) {
    return SendRestError(
        writer, InvalidArgument("Content-Encoding '" + std::string(*enc) + "' is not supported (gzip is)"));
  }
  GzipInflater* gz = inflater ? &*inflater : nullptr;
  if (EqualsIgnoreCase(Trim(type.substr(0, type.find(';'))), "application/octet-stream")) {
    if (!path_query || path_query->empty())
      return SendRestError(writer, InvalidArgument("an octet-stream upload needs the path query"));
    auto file = filesystem_.OpenForWrite(*path_query, *caller);
    if (!file.ok()) return SendRestError(writer, file.status());
    bool body_failed = false;
    Status s = PumpBody(
        request, [&](std::string_view d) { return FilesystemService::WriteAll(*file, d); }, gz, &body_failed);
    if (!s.ok()) return SendUploadError(writer, s, body_failed);
    return SendJson(writer, 200, Json::array({WrittenEntry(*file)}));
  }
  auto boundary = MultipartBoundary(type);
  if (!boundary.ok()) return SendRestError(writer, boundary.status());
  UploadSink sink(filesystem_, *caller, path_query);
  MultipartReader reader(*boundary, &sink);
  bool body_failed = false;
  Status s = PumpBody(
      request, [&](std::string_view d) { return reader.Feed(d); }, gz, &body_failed);
  if (s.ok()) s = reader.Finish();
  if (!s.ok()) return SendUploadError(writer, s, body_failed);
  if (sink.written().empty())
    return SendRestError(writer, InvalidArgument("the multipart body has no part named 'file'"));
  SendJson(writer, 200, sink.written());
}

}  // namespace kiln::envd
