// ArchiveApi: the libarchive functions artifact.cc calls, resolved from libarchive.so.13 at first use.
//
// The kiln binary does not link libarchive: it (and the compression, ACL and XML libraries it pulls in)
// would be mapped at every start, though only `kiln agent --out` writes an archive. Types and constants still
// come from <archive.h>/<archive_entry.h>, so every pointer has the exact type the header declares.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "kiln/base/status.h"

namespace kiln::artifact {

inline constexpr char kArchiveSoname[] = "libarchive.so.13";
inline constexpr char kArchiveDebianPackage[] = "libarchive13";

// Each member is the libarchive function named archive_<member>.
struct ArchiveApi {
  decltype(&::archive_error_string) error_string;
  decltype(&::archive_write_new) write_new;
  decltype(&::archive_write_free) write_free;
  decltype(&::archive_write_add_filter_gzip) write_add_filter_gzip;
  decltype(&::archive_write_set_format_pax_restricted) write_set_format_pax_restricted;
  decltype(&::archive_write_open_filename) write_open_filename;
  decltype(&::archive_write_header) write_header;
  decltype(&::archive_write_data) write_data;
  decltype(&::archive_write_close) write_close;
  decltype(&::archive_read_new) read_new;
  decltype(&::archive_read_free) read_free;
  decltype(&::archive_read_support_filter_all) read_support_filter_all;
  decltype(&::archive_read_support_format_tar) read_support_format_tar;
  decltype(&::archive_read_open_filename) read_open_filename;
  decltype(&::archive_read_next_header) read_next_header;
  decltype(&::archive_read_data) read_data;
  decltype(&::archive_entry_new) entry_new;
  decltype(&::archive_entry_free) entry_free;
  decltype(&::archive_entry_set_pathname) entry_set_pathname;
  decltype(&::archive_entry_set_size) entry_set_size;
  decltype(&::archive_entry_set_filetype) entry_set_filetype;
  decltype(&::archive_entry_set_perm) entry_set_perm;
  decltype(&::archive_entry_set_mtime) entry_set_mtime;
  decltype(&::archive_entry_filetype) entry_filetype;
  decltype(&::archive_entry_pathname) entry_pathname;
};

// Loads libarchive.so.13 and resolves every member, once per process; later calls (from any thread) return
// the same outcome. On success the table is never null and stays valid until exit. Fails with
// kFailedPrecondition naming libarchive.so.13 and the Debian package libarchive13 (or the missing function).
Result<const ArchiveApi*> LoadArchiveApi();

}  // namespace kiln::artifact
