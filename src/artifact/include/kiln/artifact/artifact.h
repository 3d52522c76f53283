// Project packaging: turn a piece of generated code into a small, runnable project on disk and a tar.gz.
//
// A Project is a plain value: a name and a set of files (relative path -> content). WriteProject() writes the
// files under a directory; WriteTarGz() writes a gzip-compressed ustar/pax archive of them whose entries live
// under "<name>/"; ReadTarGz() reads any such archive back (used by tests and by tools that inspect
// artifacts). Requirements detection maps the imports of Python code to pip package names.
//
// Thread-safety: every function is reentrant; concurrent calls on different paths are safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::artifact {

struct Project {
  std::string name;                          // archive top-level folder; usually the output dir's basename
  std::map<std::string, std::string> files;  // relative path ("main.py", "src/x.py") -> content
};

// Writes every file under `dir` (created with parents when missing; existing files are overwritten).
// Fails with InvalidArgument for an absolute path or one containing "..", or the errno status of the
// failing mkdir/open/write, naming the path.
Status WriteProject(const std::string& dir, const Project& project);

// Writes `project` as a gzip tar archive at `path` (overwritten), entries "<name>/<file>", mode 0644, with
// the current time as mtime. Errors carry libarchive's message and the path. libarchive.so.13 is loaded at
// the first WriteTarGz/ReadTarGz; if it cannot be, both fail with kFailedPrecondition naming the library and
// the Debian package libarchive13.
Status WriteTarGz(const std::string& path, const Project& project);

// Reads a (gzip/any-filter) tar archive: entry path -> content, regular files only.
Result<std::map<std::string, std::string>> ReadTarGz(const std::string& path);

// The third-party packages Python `code` imports, as pip requirement names, sorted and unique.
// Looks at every `import a.b, c as d` and `from a.b import x` statement (also indented ones, e.g. inside
// try/except or functions), keeps the top-level module name, drops the standard library (a compiled-in
// list from CPython 3.11), relative imports, names starting with '_' and `local_modules` (modules that
// the project itself provides), then maps import names to distribution names (cv2 -> opencv-python,
// sklearn -> scikit-learn, PIL -> pillow, yaml -> pyyaml, ...). Heuristic: imports inside string
// literals are counted too, and dynamic imports (importlib) are not seen.
std::vector<std::string> DetectRequirements(std::string_view code,
                                            const std::vector<std::string>& local_modules = {});

// True when `module` (a top-level name such as "os" or "numpy") is in the Python standard library.
bool IsStdlibModule(std::string_view module);

// The pip distribution name for an import name ("cv2" -> "opencv-python"); the name itself when unmapped.
std::string PipNameForImport(std::string_view module);

}  // namespace kiln::artifact
