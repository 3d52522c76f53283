#include "archive_api.h"

#include <utility>

#include "kiln/base/dynamic_library.h"

namespace kiln::artifact {
namespace {

// The member's name is the symbol's name without "archive_", so the two cannot drift apart.
#define KILN_RESOLVE_ARCHIVE(member) KILN_RETURN_IF_ERROR(library.Resolve("archive_" #member, &api->member))

Status ResolveArchiveApi(const DynamicLibrary& library, ArchiveApi* api) {
  KILN_RESOLVE_ARCHIVE(error_string);
  KILN_RESOLVE_ARCHIVE(write_new);
  KILN_RESOLVE_ARCHIVE(write_free);
  KILN_RESOLVE_ARCHIVE(write_add_filter_gzip);
  KILN_RESOLVE_ARCHIVE(write_set_format_pax_restricted);
  KILN_RESOLVE_ARCHIVE(write_open_filename);
  KILN_RESOLVE_ARCHIVE(write_header);
  KILN_RESOLVE_ARCHIVE(write_data);
  KILN_RESOLVE_ARCHIVE(write_close);
  KILN_RESOLVE_ARCHIVE(read_new);
  KILN_RESOLVE_ARCHIVE(read_free);
  KILN_RESOLVE_ARCHIVE(read_support_filter_all);
  KILN_RESOLVE_ARCHIVE(read_support_format_tar);
  KILN_RESOLVE_ARCHIVE(read_open_filename);
  KILN_RESOLVE_ARCHIVE(read_next_header);
  KILN_RESOLVE_ARCHIVE(read_data);
  KILN_RESOLVE_ARCHIVE(entry_new);
  KILN_RESOLVE_ARCHIVE(entry_free);
  KILN_RESOLVE_ARCHIVE(entry_set_pathname);
  KILN_RESOLVE_ARCHIVE(entry_set_size);
  KILN_RESOLVE_ARCHIVE(entry_set_filetype);
  KILN_RESOLVE_ARCHIVE(entry_set_perm);
  KILN_RESOLVE_ARCHIVE(entry_set_mtime);
  KILN_RESOLVE_ARCHIVE(entry_filetype);
  KILN_RESOLVE_ARCHIVE(entry_pathname);
  return Status::Ok();
}

#undef KILN_RESOLVE_ARCHIVE

// Never deleted, so the table stays valid for callers still running while static destructors run at exit.
struct LoadedArchive {
  DynamicLibrary library;
  ArchiveApi api;
};

Result<const ArchiveApi*> LoadOnce() {
  KILN_ASSIGN_OR_RETURN(DynamicLibrary library, DynamicLibrary::Open(kArchiveSoname, kArchiveDebianPackage));
  ArchiveApi api{};
  KILN_RETURN_IF_ERROR(ResolveArchiveApi(library, &api));
  return &(new LoadedArchive{std::move(library), api})->api;
}

}  // namespace

Result<const ArchiveApi*> LoadArchiveApi() {
  // A function-local static is initialised exactly once, thread-safely; concurrent callers wait for it.
  static const Result<const ArchiveApi*> loaded = LoadOnce();
  return loaded;
}

}  // namespace kiln::artifact
