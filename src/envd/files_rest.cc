// REST /files: download (GET) and upload (POST, multipart/form-data or application/octet-stream).
#include <set>

#include "kiln/base/strings.h"
#include "kiln/envd/multipart.h"
#include "kiln/envd/server.h"

namespace kiln::envd {
namespace {

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

struct Upload {
  std::string path;
  std::string data;
};

// The files of an upload request, each with its destination path as given (not yet resolved).
Result<std::vector<Upload>> UploadsOf(http::Request& request) {
  std::string_view type = request.headers.Get("Content-Type").value_or("");
  auto path_query = request.Query("path");
  if (auto enc = request.headers.Get("Content-Encoding"); enc && !EqualsIgnoreCase(Trim(*enc), "identity"))
    return InvalidArgument("Content-Encoding '" + std::string(*enc) + "' is not supported");
  std::string_view bare = Trim(type.substr(0, type.find(';')));
  if (EqualsIgnoreCase(bare, "application/octet-stream")) {
    if (!path_query || path_query->empty())
      return InvalidArgument("an octet-stream upload needs the path query");
    return std::vector<Upload>{{std::string(*path_query), std::move(request.body)}};
  }
  KILN_ASSIGN_OR_RETURN(std::string boundary, MultipartBoundary(type));
  KILN_ASSIGN_OR_RETURN(std::vector<FormPart> parts, ParseMultipart(request.body, boundary));
  std::vector<Upload> uploads;
  for (FormPart& part : parts) {
    if (part.name != "file") continue;
    std::string path =
        path_query && !path_query->empty() ? std::string(*path_query) : part.filename.value_or("");
    if (path.empty()) return InvalidArgument("a file part has neither a path query nor a filename");
    uploads.push_back({std::move(path), std::move(part.data)});
  }
  if (uploads.empty()) return InvalidArgument("the multipart body has no part named 'file'");
  return uploads;
}

}  // namespace

void EnvdServer::ReadFile(http::Request& request, http::ResponseWriter& writer) {
  auto caller = RestCaller(root_, config_, request);
  if (!caller.ok()) return SendRestAuthError(writer, caller.status());
  auto data = filesystem_.ReadFile(request.Query("path").value_or(""), *caller);
  if (!data.ok()) return SendRestError(writer, data.status());
  http::Response response;
  response.headers.Set("Content-Type", "application/octet-stream");
  response.body = std::move(data).value();
  (void)writer.Send(response);
}

void EnvdServer::WriteFiles(http::Request& request, http::ResponseWriter& writer) {
  auto caller = RestCaller(root_, config_, request);
  if (!caller.ok()) return SendRestAuthError(writer, caller.status());
  auto uploads = UploadsOf(request);
  if (!uploads.ok()) return SendRestError(writer, uploads.status());
  // Resolve every destination first: two parts for the same file is a client error, caught before writing.
  std::set<std::string> seen;
  for (const Upload& u : *uploads) {
    auto abs = FilesystemService::Resolve(u.path, *caller);
    if (!abs.ok()) return SendRestError(writer, abs.status());
    if (!seen.insert(*abs).second)
      return SendRestError(writer, InvalidArgument("path '" + *abs + "' is given twice"));
  }
  Json written = Json::array();
  for (const Upload& u : *uploads) {
    auto entry = filesystem_.WriteFile(u.path, u.data, *caller);
    if (!entry.ok()) return SendRestError(writer, entry.status());
    written.push_back(*entry);
  }
  SendJson(writer, 200, written);
}

}  // namespace kiln::envd
