#include "kiln/base/curl_api.h"

#include <string>
#include <utility>

#include "kiln/base/dynamic_library.h"

namespace kiln {
namespace {

// The member's name is the symbol's name without "curl_", so the two cannot drift apart.
#define KILN_RESOLVE_CURL(member) KILN_RETURN_IF_ERROR(library.Resolve("curl_" #member, &api->member))

Status ResolveCurlApi(const DynamicLibrary& library, CurlApi* api) {
  KILN_RESOLVE_CURL(global_init);
  KILN_RESOLVE_CURL(easy_init);
  KILN_RESOLVE_CURL(easy_cleanup);
  KILN_RESOLVE_CURL(easy_setopt);
  KILN_RESOLVE_CURL(easy_perform);
  KILN_RESOLVE_CURL(easy_getinfo);
  KILN_RESOLVE_CURL(easy_strerror);
  KILN_RESOLVE_CURL(slist_append);
  KILN_RESOLVE_CURL(slist_free_all);
  KILN_RESOLVE_CURL(getdate);
  KILN_RESOLVE_CURL(multi_init);
  KILN_RESOLVE_CURL(multi_cleanup);
  KILN_RESOLVE_CURL(multi_add_handle);
  KILN_RESOLVE_CURL(multi_remove_handle);
  KILN_RESOLVE_CURL(multi_perform);
  KILN_RESOLVE_CURL(multi_info_read);
  KILN_RESOLVE_CURL(multi_poll);
  return Status::Ok();
}

#undef KILN_RESOLVE_CURL

// Never deleted: exporter threads may still be calling libcurl while static destructors run at exit, so
// the library must stay loaded and the table valid until the process ends.
struct LoadedCurl {
  DynamicLibrary library;
  CurlApi api;
};

Result<const CurlApi*> LoadOnce() {
  KILN_ASSIGN_OR_RETURN(DynamicLibrary library, DynamicLibrary::Open(kCurlSoname, kCurlDebianPackage));
  CurlApi api{};
  KILN_RETURN_IF_ERROR(ResolveCurlApi(library, &api));
  if (CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return Internal(std::string("curl_global_init: ") + api.easy_strerror(rc));
  }
  return &(new LoadedCurl{std::move(library), api})->api;
}

}  // namespace

Result<const CurlApi*> LoadCurlApi() {
  // A function-local static is initialised exactly once, thread-safely; concurrent callers wait for it.
  static const Result<const CurlApi*> loaded = LoadOnce();
  return loaded;
}

}  // namespace kiln
