// Requirements detection: Python imports -> pip distribution names.
#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "kiln/artifact/artifact.h"
#include "kiln/base/strings.h"

namespace kiln::artifact {
namespace {

constexpr std::string_view kStdlib[] = {
#include "stdlib_modules.inc"
};

// Import names whose distribution on PyPI is named differently.
constexpr std::pair<std::string_view, std::string_view> kPipNames[] = {
    {"Crypto", "pycryptodome"},
    {"OpenSSL", "pyopenssl"},
    {"PIL", "pillow"},
    {"attr", "attrs"},
    {"bs4", "beautifulsoup4"},
    {"cv2", "opencv-python"},
    {"dateutil", "python-dateutil"},
    {"docx", "python-docx"},
    {"dotenv", "python-dotenv"},
    {"fitz", "pymupdf"},
    {"gi", "pygobject"},
    {"jwt", "pyjwt"},
    {"magic", "python-magic"},
    {"MySQLdb", "mysqlclient"},
    {"pptx", "python-pptx"},
    {"psycopg2", "psycopg2-binary"},
    {"serial", "pyserial"},
    {"skimage", "scikit-image"},
    {"sklearn", "scikit-learn"},
    {"telegram", "python-telegram-bot"},
    {"usb", "pyusb"},
    {"win32api", "pywin32"},
    {"yaml", "pyyaml"},
    {"zmq", "pyzmq"},
};

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The top-level name of a dotted module path ("a.b.c" -> "a"), or "" for relative imports and non-names.
std::string_view TopLevel(std::string_view dotted) {
  dotted = Trim(dotted);
  if (dotted.empty() || dotted[0] == '.') return {};
  size_t n = 0;
  while (n < dotted.size() && IsIdentChar(dotted[n])) ++n;
  if (n == 0 || std::isdigit(static_cast<unsigned char>(dotted[0]))) return {};
  return dotted.substr(0, n);
}

// Module names one logical line imports: "import a, b.c as d" -> {a, b}; "from x.y import z" -> {x}.
void ImportsOfLine(std::string_view line, std::set<std::string>* out) {
  line = Trim(line);
  if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = Trim(line.substr(0, hash));
  if (StartsWith(line, "from ")) {
    line.remove_prefix(5);
    const size_t imp = line.find(" import");
    if (imp == std::string_view::npos) return;
    if (auto top = TopLevel(line.substr(0, imp)); !top.empty()) out->emplace(top);
  } else if (StartsWith(line, "import ")) {
    line.remove_prefix(7);
    for (const std::string& part : Split(line, ',')) {
      if (auto top = TopLevel(part); !top.empty()) out->emplace(top);
    }
  }
}

}  // namespace

bool IsStdlibModule(std::string_view module) {
  return std::binary_search(std::begin(kStdlib), std::end(kStdlib), module);
}

std::string PipNameForImport(std::string_view module) {
  for (const auto& [import_name, pip_name] : kPipNames) {
    if (import_name == module) return std::string(pip_name);
  }
  return std::string(module);
}

std::vector<std::string> DetectRequirements(std::string_view code,
                                            const std::vector<std::string>& local_modules) {
  std::set<std::string> modules;
  for (const std::string& line : Split(code, '\n')) {
    // "import a; import b" on one line.
    for (const std::string& stmt : Split(line, ';')) ImportsOfLine(stmt, &modules);
  }
  std::set<std::string> pip;
  for (const std::string& m : modules) {
    if (m[0] == '_' || IsStdlibModule(m)) continue;
    if (std::find(local_modules.begin(), local_modules.end(), m) != local_modules.end()) continue;
    pip.insert(PipNameForImport(m));
  }
  return {pip.begin(), pip.end()};
}

}  // namespace kiln::artifact
