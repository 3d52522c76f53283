// DynamicLibrary: a shared library opened at run time (dlopen) instead of linked at build time.
//
// Kiln loads its heavy, optional dependencies (libcurl for HTTP, libarchive for tar.gz) this way, on first
// use, so that commands which never need them (`kiln run`, `kiln --version`) do not pay for mapping and
// relocating them and their dozens of transitive libraries at every start-up. A missing library is then an
// error value at the feature that needs it, never a failed start of the whole binary.
//
// Owns the dlopen handle (dlclose on destruction). Move-only. Open() and Resolve() may be called from several
// threads at once (glibc's dlopen/dlsym/dlerror are thread-safe; dlerror is per thread).
#pragma once

#include <string>

#include "kiln/base/status.h"

namespace kiln {

class DynamicLibrary {
 public:
  // Opens the library named `soname` (e.g. "libcurl.so.4": the runtime name, not the -dev package's
  // unversioned symlink) with every symbol bound now, so a broken dependency fails here rather than at a
  // later call. `debian_package` is the package that ships it; both appear in the error. Fails with
  // kFailedPrecondition: "cannot load libcurl.so.4 (<dlerror>): install the Debian package libcurl4".
  static Result<DynamicLibrary> Open(std::string soname, std::string debian_package);

  DynamicLibrary(DynamicLibrary&& other) noexcept;
  DynamicLibrary& operator=(DynamicLibrary&& other) noexcept;
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;
  ~DynamicLibrary();

  // The address of function or variable `symbol`, never null. Fails with kFailedPrecondition naming the
  // symbol and the library (an older library than Kiln was built against lacks newer functions). The address
  // is valid while this object lives.
  Result<void*> Symbol(const char* symbol) const;

  // Sets `*function` to `symbol` as a typed function pointer. The caller guarantees that FunctionType is the
  // symbol's real type: take it from the library's own header, e.g. decltype(&::curl_easy_init). On error
  // `*function` is unchanged; the error is Symbol()'s.
  template <typename FunctionType>
  Status Resolve(const char* symbol, FunctionType** function) const {
    Result<void*> address = Symbol(symbol);
    if (!address.ok()) return address.status();
    *function = reinterpret_cast<FunctionType*>(*address);
    return Status::Ok();
  }

  const std::string& soname() const { return soname_; }

 private:
  DynamicLibrary(void* handle, std::string soname, std::string debian_package);

  void* handle_ = nullptr;
  std::string soname_;
  std::string debian_package_;
};

}  // namespace kiln
