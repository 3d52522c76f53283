// FilesystemService's streaming file access: /files downloads and uploads go through these, a bounded
// chunk at a time, so a file's size never becomes envd's memory use.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "kiln/envd/filesystem_service.h"

namespace kiln::envd {
namespace {

constexpr uint64_t kMaxWholeReadBytes = uint64_t{64} << 20;

Status NotRegular(const std::string& abs, const struct stat& st) {
  // E2B's own wording for a directory, which SDK users may match on.
  if (S_ISDIR(st.st_mode)) return InvalidArgument("path '" + abs + "' is a directory");
  const char* kind = S_ISDIR(st.st_mode)                          ? "a directory"
                     : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                     : S_ISSOCK(st.st_mode)                       ? "a socket"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                  : "not a regular file";
  return InvalidArgument("path '" + abs + "' is " + kind + "; only regular files can be transferred");
}

}  // namespace

Result<FilesystemService::OpenFile> FilesystemService::OpenForRead(std::string_view path,
                                                                   const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  // O_NONBLOCK: opening a FIFO planted by sandboxed code must not hang the request before fstat sees it.
  auto fd = root_->OpenPath(abs, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd.ok()) {
    // ENXIO: a unix socket, or a device with no driver behind it.
    if (errno == ENXIO) return InvalidArgument("path '" + abs + "' is not a regular file");
    if (fd.status().code() == Code::kNotFound) return NotFound("path '" + abs + "' does not exist");
    return fd.status();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("stat '" + abs + "'", errno);
  if (!S_ISREG(st.st_mode)) return NotRegular(abs, st);
  int flags = ::fcntl(fd->get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    return ErrnoStatus("fcntl '" + abs + "'", errno);
  return OpenFile{std::move(fd).value(), abs, static_cast<uint64_t>(st.st_size)};
}

Result<FilesystemService::OpenFile> FilesystemService::OpenForWrite(std::string_view path,
                                                                    const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  auto [dir, name] = SplitParent(abs);
  // "a/b/" names a directory: creating a file "b" instead would surprise the caller.
  if (name.empty() || (!path.empty() && path.back() == '/'))
    return InvalidArgument("path '" + std::string(path) + "' names a directory, not a file");
  KILN_RETURN_IF_ERROR(root_->MakeDirs(dir, caller.switch_identity ? caller.user.uid : static_cast<uid_t>(-1),
                                       caller.user.gid));
  // O_NONBLOCK: a FIFO with no reader fails with ENXIO instead of blocking the handler forever.
  auto fd = root_->OpenPath(abs, O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK, 0644);
  if (!fd.ok()) {
    if (errno == EISDIR) return InvalidArgument("path '" + abs + "' is a directory");
    if (errno == ENXIO) return InvalidArgument("path '" + abs + "' is a FIFO or device without a reader");
    return fd.status();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("stat '" + abs + "'", errno);
  // Truncated only once known to be a regular file: O_TRUNC on open would apply before the check.
  if (!S_ISREG(st.st_mode)) return NotRegular(abs, st);
  if (::ftruncate(fd->get(), 0) != 0) return ErrnoStatus("truncate '" + abs + "'", errno);
  int flags = ::fcntl(fd->get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    return ErrnoStatus("fcntl '" + abs + "'", errno);
  if (caller.switch_identity && ::fchown(fd->get(), caller.user.uid, caller.user.gid) != 0)
    return ErrnoStatus("chown '" + abs + "'", errno);
  return OpenFile{std::move(fd).value(), abs, 0};
}

Status FilesystemService::WriteAll(const OpenFile& file, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(file.fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write '" + file.abs + "'", errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<std::string> FilesystemService::ReadFile(std::string_view path, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(OpenFile file, OpenForRead(path, caller));
  if (file.size > kMaxWholeReadBytes)
    return ResourceExhausted("file '" + file.abs + "' is too large to read whole; stream it");
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(file.fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read '" + file.abs + "'", errno);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxWholeReadBytes)
      return ResourceExhausted("file '" + file.abs + "' grew too large to read whole");
  }
}

Result<Json> FilesystemService::WriteFile(std::string_view path, std::string_view data,
                                          const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(OpenFile file, OpenForWrite(path, caller));
  KILN_RETURN_IF_ERROR(WriteAll(file, data));
  return Json{{"path", file.abs}, {"name", SplitParent(file.abs).second}, {"type", "file"}};
}

}  // namespace kiln::envd
