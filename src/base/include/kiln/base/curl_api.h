// CurlApi: the libcurl functions Kiln calls, resolved from libcurl.so.4 at first use (target kiln_curl_api).
//
// The kiln binary does not link libcurl: it and its ~40 transitive libraries (TLS, Kerberos, LDAP, IDN, ...)
// would be mapped at every start, including by `kiln run`, which never makes an HTTP call. Code that talks
// HTTP (LLM providers, the OTLP exporter) calls LoadCurlApi() where the feature starts and then calls
// through the returned table. Types and constants still come from <curl/curl.h>, so the libcurl -dev package
// stays a build dependency and every pointer has the exact type the header declares.
#pragma once

#include <curl/curl.h>

#include "kiln/base/status.h"

namespace kiln {

inline constexpr char kCurlSoname[] = "libcurl.so.4";
inline constexpr char kCurlDebianPackage[] = "libcurl4";

// Each member is the libcurl function named curl_<member>. The variadic ones (easy_setopt, easy_getinfo)
// keep their variadic type, so arguments are passed exactly as in a direct call: a long for numeric
// options, a curl_off_t for *_LARGE ones, a pointer otherwise.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_getdate) getdate;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_poll) multi_poll;
};

// Loads libcurl.so.4, resolves every CurlApi member and runs curl_global_init, once per process; later calls
// (from any thread) return the same outcome. On success the table is never null and stays valid until exit
// (the library is never unloaded). Fails with kFailedPrecondition naming libcurl.so.4 and the Debian package
// libcurl4 (or the missing function, for a libcurl older than the headers), or kInternal if
// curl_global_init fails.
Result<const CurlApi*> LoadCurlApi();

}  // namespace kiln
