// Jupyter kernelspecs: finding the kernel.json that serves a code-context language and turning its argv
// into a command line. Pure logic over a small filesystem seam, so kiln-envd (static, confined to its root)
// and kiln-kernel-bridge (dynamic, running as the sandbox user) share one lookup.
//
// A kernelspec is a directory <dir>/<name>/kernel.json with at least "argv" (a list of strings holding the
// "{connection_file}" placeholder) and "language"; see
// https://jupyter-client.readthedocs.io/en/stable/kernels.html#kernel-specs.
//
// Thread-safety: every function is pure or only reads through the given KernelSpecFs.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::kernel_bridge {

struct KernelSpec {
  std::string name;                                      // the kernelspec directory's name ("ir", "python3")
  std::string resource_dir;                              // the directory holding kernel.json
  std::vector<std::string> argv;                         // as written, placeholders included
  std::string language;                                  // its "language" field ("R", "python")
  std::string display_name;                              // its "display_name" field, may be empty
  std::string interrupt_mode;                            // "signal" (the default) or "message"
  std::vector<std::pair<std::string, std::string>> env;  // its "env" object, in file order
};

// Where kernelspecs are read from. Implementations must not block on special files (FIFOs).
class KernelSpecFs {
 public:
  virtual ~KernelSpecFs() = default;
  // Names of the subdirectories of `dir`, sorted; empty when `dir` is missing or unreadable.
  virtual std::vector<std::string> ListDirectories(const std::string& dir) const = 0;
  // The content of a regular file of at most 1 MiB. NotFound when missing; other errors name the path.
  virtual Result<std::string> ReadSmallFile(const std::string& path) const = 0;
};

// The host's own filesystem (what kiln-kernel-bridge sees). A process-wide instance, never null.
const KernelSpecFs& HostKernelSpecFs();

// Jupyter's kernel search path, most specific first: "<entry>/kernels" for each `jupyter_path` entry
// (':'-separated, empty entries skipped), "<home>/.local/share/jupyter/kernels",
// /usr/local/share/jupyter/kernels, /usr/share/jupyter/kernels.
std::vector<std::string> KernelSearchDirs(std::string_view jupyter_path, std::string_view home);

// Parses a kernel.json. InvalidArgument (naming `resource_dir`) when it is not an object, argv is missing,
// empty or not all strings, or interrupt_mode is neither "signal" nor "message".
Result<KernelSpec> ParseKernelSpec(std::string_view json, std::string name, std::string resource_dir);

// The kernelspec for `language`: first a kernelspec whose directory name equals it, then one whose
// "language" field does (both case-insensitive, dirs in order, names sorted within a dir), so "python"
// finds python3 and "r" finds ir. Unparsable kernel.json files are skipped. NotFound names the language
// and every directory searched.
Result<KernelSpec> FindKernelSpec(std::string_view language, const std::vector<std::string>& dirs,
                                  const KernelSpecFs& fs);

// The kernel's command line: argv with every "{connection_file}" replaced by `connection_file` and every
// "{resource_dir}" by the spec's resource_dir (also inside longer arguments).
std::vector<std::string> KernelCommand(const KernelSpec& spec, const std::string& connection_file);

}  // namespace kiln::kernel_bridge
