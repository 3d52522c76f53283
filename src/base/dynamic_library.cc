#include "kiln/base/dynamic_library.h"

#include <dlfcn.h>

#include <utility>

namespace kiln {
namespace {

// dlerror() also clears the pending error, so it is read exactly once per failure.
std::string LastDlError() {
  const char* error = dlerror();
  return error != nullptr ? error : "unknown dynamic loader error";
}

}  // namespace

Result<DynamicLibrary> DynamicLibrary::Open(std::string soname, std::string debian_package) {
  // RTLD_LOCAL: the library's symbols must not satisfy other libraries' lookups (Kiln reaches them only
  // through Resolve). RTLD_NOW: an unresolvable dependency fails here, with dlerror naming it.
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return FailedPrecondition("cannot load " + soname + " (" + LastDlError() +
                              "): install the Debian package " + debian_package);
  }
  return DynamicLibrary(handle, std::move(soname), std::move(debian_package));
}

DynamicLibrary::DynamicLibrary(void* handle, std::string soname, std::string debian_package)
    : handle_(handle), soname_(std::move(soname)), debian_package_(std::move(debian_package)) {}

DynamicLibrary::DynamicLibrary(DynamicLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      soname_(std::move(other.soname_)),
      debian_package_(std::move(other.debian_package_)) {}

DynamicLibrary& DynamicLibrary::operator=(DynamicLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    soname_ = std::move(other.soname_);
    debian_package_ = std::move(other.debian_package_);
  }
  return *this;
}

DynamicLibrary::~DynamicLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

Result<void*> DynamicLibrary::Symbol(const char* symbol) const {
  dlerror();  // a stale error from an earlier call must not be mistaken for this lookup's
  void* address = dlsym(handle_, symbol);
  if (address == nullptr) {
    return FailedPrecondition(soname_ + " has no symbol " + symbol + " (" + LastDlError() +
                              "): it is older than Kiln needs; upgrade the Debian package " +
                              debian_package_);
  }
  return address;
}

}  // namespace kiln
