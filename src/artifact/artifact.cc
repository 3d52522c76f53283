#include "kiln/artifact/artifact.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>

#include "archive_api.h"
#include "kiln/base/fd.h"

namespace kiln::artifact {
namespace {

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;

Status CheckRelative(const std::string& path) {
  if (path.empty() || path[0] == '/')
    return InvalidArgument("artifact file path must be relative: '" + path + "'");
  for (const std::string_view part : {"../", "/.."}) {
    if (path.find(part) != std::string::npos || path == "..") {
      return InvalidArgument("artifact file path must not contain '..': '" + path + "'");
    }
  }
  return Status::Ok();
}

// mkdir -p: creates every missing component of `dir`.
Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + prefix, errno);
  }
  return Status::Ok();
}

Status WriteWholeFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus("open " + path, errno);
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write " + path, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status ArchiveError(const ArchiveApi& ar, archive* a, std::string_view what, const std::string& path) {
  const char* msg = ar.error_string(a);
  return Internal(std::string(what) + " " + path + ": " + (msg ? msg : "unknown libarchive error"));
}

}  // namespace

Status WriteProject(const std::string& dir, const Project& project) {
  KILN_RETURN_IF_ERROR(MakeDirs(dir));
  for (const auto& [rel, content] : project.files) {
    KILN_RETURN_IF_ERROR(CheckRelative(rel));
    const std::string path = dir + "/" + rel;
    if (const size_t slash = path.rfind('/'); slash != std::string::npos) {
      KILN_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
    }
    KILN_RETURN_IF_ERROR(WriteWholeFile(path, content));
  }
  return Status::Ok();
}

Status WriteTarGz(const std::string& path, const Project& project) {
  Result<const ArchiveApi*> loaded = LoadArchiveApi();
  if (!loaded.ok()) return loaded.status().WithContext("write " + path);
  const ArchiveApi& ar = **loaded;
  ArchivePtr a(ar.write_new(), ar.write_free);
  if (!a) return Internal("archive_write_new failed");
  if (ar.write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      ar.write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) {
    return ArchiveError(ar, a.get(), "configure tar.gz writer for", path);
  }
  if (ar.write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    return ArchiveError(ar, a.get(), "open", path);
  }
  const std::time_t now = std::time(nullptr);
  for (const auto& [rel, content] : project.files) {
    KILN_RETURN_IF_ERROR(CheckRelative(rel));
    EntryPtr entry(ar.entry_new(), ar.entry_free);
    const std::string name = project.name.empty() ? rel : project.name + "/" + rel;
    ar.entry_set_pathname(entry.get(), name.c_str());
    ar.entry_set_size(entry.get(), static_cast<la_int64_t>(content.size()));
    ar.entry_set_filetype(entry.get(), AE_IFREG);
    ar.entry_set_perm(entry.get(), 0644);
    ar.entry_set_mtime(entry.get(), now, 0);
    if (ar.write_header(a.get(), entry.get()) != ARCHIVE_OK)
      return ArchiveError(ar, a.get(), "write header", name);
    if (!content.empty() && ar.write_data(a.get(), content.data(), content.size()) < 0) {
      return ArchiveError(ar, a.get(), "write data", name);
    }
  }
  if (ar.write_close(a.get()) != ARCHIVE_OK) return ArchiveError(ar, a.get(), "close", path);
  return Status::Ok();
}

Result<std::map<std::string, std::string>> ReadTarGz(const std::string& path) {
  Result<const ArchiveApi*> loaded = LoadArchiveApi();
  if (!loaded.ok()) return loaded.status().WithContext("read " + path);
  const ArchiveApi& ar = **loaded;
  ArchivePtr a(ar.read_new(), ar.read_free);
  if (!a) return Internal("archive_read_new failed");
  ar.read_support_filter_all(a.get());
  ar.read_support_format_tar(a.get());
  if (ar.read_open_filename(a.get(), path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return ArchiveError(ar, a.get(), "open", path);
  }
  std::map<std::string, std::string> files;
  archive_entry* entry = nullptr;
  int rc = ARCHIVE_OK;
  while ((rc = ar.read_next_header(a.get(), &entry)) == ARCHIVE_OK) {
    if (ar.entry_filetype(entry) != AE_IFREG) continue;
    std::string content;
    char buf[16 * 1024];
    la_ssize_t n = 0;
    while ((n = ar.read_data(a.get(), buf, sizeof(buf))) > 0) content.append(buf, static_cast<size_t>(n));
    if (n < 0) return ArchiveError(ar, a.get(), "read data of", ar.entry_pathname(entry));
    files[ar.entry_pathname(entry)] = std::move(content);
  }
  if (rc != ARCHIVE_EOF) return ArchiveError(ar, a.get(), "read", path);
  return files;
}

}  // namespace kiln::artifact
