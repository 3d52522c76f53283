#include "kiln/template/dockerfile.h"

#include <nlohmann/json.hpp>

#include "kiln/base/strings.h"

namespace kiln::tmpl {
namespace {

constexpr char kSupported[] = "FROM, RUN, COPY, ADD, ENV, WORKDIR, USER, ARG";

struct LogicalLine {
  int line;
  std::string text;
  bool directive;  // a `# kiln:` comment
};

// Joins backslash continuations; drops blank lines and comments other than `# kiln:` directives.
std::vector<LogicalLine> LogicalLines(std::string_view text) {
  std::vector<LogicalLine> out;
  std::string pending;
  int pending_line = 0, line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view trimmed = Trim(raw);
    if (!trimmed.empty() && trimmed[0] == '#') {
      std::string_view rest = Trim(trimmed.substr(1));
      if (pending.empty() && StartsWith(rest, "kiln:"))
        out.push_back({line_no, std::string(Trim(rest.substr(5))), true});
      continue;  // comments inside a continued instruction are skipped, as Docker does
    }
    if (trimmed.empty() && pending.empty()) continue;
    if (pending.empty()) pending_line = line_no;
    bool continues = !trimmed.empty() && trimmed.back() == '\\';
    if (continues) trimmed.remove_suffix(1);
    pending += std::string(trimmed);
    if (continues) {
      pending += ' ';
      continue;
    }
    out.push_back({pending_line, std::string(Trim(pending)), false});
    pending.clear();
  }
  if (!pending.empty()) out.push_back({pending_line, std::string(Trim(pending)), false});
  return out;
}

// Splits on unquoted whitespace; double and single quotes group and are removed.
Result<std::vector<std::string>> Words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else {
        cur += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c, in_word = true;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i], in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::move(cur)), cur.clear(), in_word = false;
    } else {
      cur += c, in_word = true;
    }
  }
  if (quote) return InvalidArgument(std::string("unterminated ") + quote + " quote");
  if (in_word) out.push_back(std::move(cur));
  return out;
}

bool ValidVarName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// A JSON array of strings (exec form), or nullopt when `s` is not one.
std::optional<std::vector<std::string>> ExecForm(std::string_view s) {
  if (s.empty() || s[0] != '[') return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array() || j.empty()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

class Parser {
 public:
  Parser(const std::string& file, const std::map<std::string, std::string>& build_args)
      : build_args_(build_args) {
    out_.file = file;
  }

  Result<Dockerfile> Run(std::string_view text) {
    for (const LogicalLine& l : LogicalLines(text)) {
      Status s = l.directive ? Directive(l) : Instr(l);
      if (!s.ok()) return InvalidArgument(out_.file + ":" + std::to_string(l.line) + ": " + s.message());
    }
    if (out_.from_line == 0) return InvalidArgument(out_.file + ":1: no FROM instruction");
    if (out_.start_cmd.empty() && (!out_.ready_cmd.empty() || out_.ready_timeout_s))
      return InvalidArgument(out_.file + ": a ready-cmd or ready-timeout needs a start-cmd");
    return std::move(out_);
  }

 private:
  Status Directive(const LogicalLine& l) {
    size_t sp = l.text.find_first_of(" \t");
    std::string key = l.text.substr(0, sp);
    std::string value = sp == std::string::npos ? "" : std::string(Trim(l.text.substr(sp)));
    if (value.empty()) return InvalidArgument("kiln directive '" + key + "' needs a value");
    if (key == "start-cmd") {
      out_.start_cmd = value, out_.start_cmd_line = l.line;
    } else if (key == "ready-cmd") {
      out_.ready_cmd = value;
    } else if (key == "ready-timeout") {
      KILN_ASSIGN_OR_RETURN(out_.ready_timeout_s, Number(key, value, 1, 3600));
    } else if (key == "cpu-count") {
      KILN_ASSIGN_OR_RETURN(int64_t n, Number(key, value, 1, 64));
      out_.cpu_count = static_cast<double>(n);
    } else if (key == "memory-mb") {
      KILN_ASSIGN_OR_RETURN(out_.memory_mb, Number(key, value, 16, 1 << 20));
    } else if (key == "disk-mb") {
      KILN_ASSIGN_OR_RETURN(out_.disk_mb, Number(key, value, 16, 1 << 20));
    } else if (key == "description") {
      out_.description = value;
    } else if (key == "code-context") {
      if (value != "python")
        return InvalidArgument("code-context: only 'python' is supported, got '" + value + "'");
      out_.python_context = true;
    } else {
      return InvalidArgument("unknown kiln directive '" + key +
                             "' (known: start-cmd, ready-cmd, ready-timeout, cpu-count, memory-mb, disk-mb, "
                             "description, code-context)");
    }
    return Status::Ok();
  }

  static Result<int64_t> Number(const std::string& key, const std::string& value, int64_t min, int64_t max) {
    int64_t n = 0;
    if (value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument(key + ": expected a whole number, got '" + value + "'");
    n = std::stoll(value);
    if (n < min || n > max)
      return InvalidArgument(key + ": must be between " + std::to_string(min) + " and " +
                             std::to_string(max));
    return n;
  }

  Status Instr(const LogicalLine& l) {
    size_t sp = l.text.find_first_of(" \t");
    std::string keyword = ToLower(l.text.substr(0, sp));
    std::string rest = sp == std::string::npos ? "" : std::string(Trim(l.text.substr(sp)));
    Instruction in{Op::kRun, l.line, l.text};
    static const std::map<std::string, Op> kOps = {
        {"from", Op::kFrom}, {"run", Op::kRun},         {"copy", Op::kCopy}, {"add", Op::kAdd},
        {"env", Op::kEnv},   {"workdir", Op::kWorkdir}, {"user", Op::kUser}, {"arg", Op::kArg}};
    auto it = kOps.find(keyword);
    if (it == kOps.end()) {
      return InvalidArgument(ToUpperWord(keyword) + " is not supported (supported: " + kSupported +
                             "; see `# kiln:` directives for start and ready commands)");
    }
    in.op = it->second;
    if (rest.empty()) return InvalidArgument(std::string(OpName(in.op)) + " needs an argument");
    if (in.op != Op::kArg && in.op != Op::kFrom && out_.from_line == 0)
      return InvalidArgument(std::string(OpName(in.op)) + " before FROM (only ARG may come before it)");
    switch (in.op) {
      case Op::kFrom:
        return From(rest, l.line);
      case Op::kRun:
        return Run(in, rest);
      case Op::kCopy:
      case Op::kAdd:
        return Copy(in, rest);
      case Op::kEnv:
        return Env(in, rest);
      case Op::kArg:
        return Arg(in, rest);
      case Op::kWorkdir:
      case Op::kUser:
        return Single(in, rest);
    }
    return Status::Ok();
  }

  static std::string ToUpperWord(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }

  Status From(const std::string& rest, int line) {
    if (out_.from_line != 0) return InvalidArgument("a second FROM (multi-stage builds are not supported)");
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> words, Words(rest));
    if (words.size() != 1)
      return InvalidArgument("FROM takes one image (host, kiln:NAME or a Debian release), no AS or flags");
    std::string from = Substitute(words[0], vars_);
    if (from != "host" && !StartsWith(from, "kiln:") && !DebianSuite(from))
      return InvalidArgument("FROM " + from +
                             ": expected host, kiln:NAME (a Kiln template) or a Debian release (bookworm, "
                             "trixie, bullseye, debian:12, ...)");
    if (StartsWith(from, "kiln:") && from.size() == 5) return InvalidArgument("FROM kiln: needs a name");
    out_.from = from;
    out_.from_line = line;
    return Status::Ok();
  }

  Status Run(Instruction& in, const std::string& rest) {
    if (StartsWith(rest, "--"))
      return InvalidArgument("RUN flags (" + rest.substr(0, rest.find(' ')) + ") are not supported");
    if (auto exec = ExecForm(rest)) {
      in.args = *exec;
    } else if (rest[0] == '[') {
      return InvalidArgument("RUN [...]: not a JSON array of strings");
    } else {
      in.args = {"/bin/sh", "-c", rest};
    }
    out_.steps.push_back(std::move(in));
    return Status::Ok();
  }

  Status Copy(Instruction& in, const std::string& rest) {
    std::vector<std::string> words;
    if (auto exec = ExecForm(rest)) {
      words = *exec;
    } else {
      KILN_ASSIGN_OR_RETURN(words, Words(rest));
    }
    std::vector<std::string> args;
    for (const std::string& w : words) {
      if (args.empty() && StartsWith(w, "--chown=")) {
        std::string who = Substitute(w.substr(8), vars_);
        if (who != "root" && who != "user" && who != "0" && who != "1000" && who != "root:root" &&
            who != "user:user" && who != "0:0" && who != "1000:1000")
          return InvalidArgument("--chown=" + who + ": only root or user (uid 0 or 1000)");
        in.chown = (who[0] == 'r' || who[0] == '0') ? "root" : "user";
      } else if (args.empty() && StartsWith(w, "--")) {
        return InvalidArgument(std::string(OpName(in.op)) + " flag " + w +
                               " is not supported (only --chown)");
      } else {
        args.push_back(Substitute(w, vars_));
      }
    }
    if (args.size() < 2)
      return InvalidArgument(std::string(OpName(in.op)) + " needs a source and a destination");
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i].find("://") != std::string::npos)
        return InvalidArgument(std::string(OpName(in.op)) + " " + args[i] + ": only local files, no URLs");
    }
    in.args = std::move(args);
    out_.steps.push_back(std::move(in));
    return Status::Ok();
  }

  Status Env(Instruction& in, const std::string& rest) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> words, Words(rest));
    if (!words.empty() && words[0].find('=') == std::string::npos) {
      // ENV NAME value with spaces (the legacy form)
      std::string value = std::string(Trim(rest.substr(rest.find(words[0]) + words[0].size())));
      KILN_ASSIGN_OR_RETURN(std::vector<std::string> vw, Words(value));
      std::string joined;
      for (const std::string& w : vw) joined += (joined.empty() ? "" : " ") + w;
      words = {words[0] + "=" + joined};
    }
    for (const std::string& w : words) {
      size_t eq = w.find('=');
      if (eq == std::string::npos) return InvalidArgument("ENV " + w + ": expected NAME=VALUE");
      std::string name = w.substr(0, eq);
      if (!ValidVarName(name)) return InvalidArgument("ENV: invalid variable name '" + name + "'");
      std::string value = Substitute(w.substr(eq + 1), vars_);
      vars_[name] = value;
      in.pairs.emplace_back(name, value);
    }
    out_.steps.push_back(std::move(in));
    return Status::Ok();
  }

  Status Arg(Instruction& in, const std::string& rest) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> words, Words(rest));
    for (const std::string& w : words) {
      size_t eq = w.find('=');
      std::string name = w.substr(0, eq);
      if (!ValidVarName(name)) return InvalidArgument("ARG: invalid name '" + name + "'");
      auto given = build_args_.find(name);
      std::string value = given != build_args_.end() ? given->second
                          : eq == std::string::npos  ? ""
                                                     : Substitute(w.substr(eq + 1), vars_);
      vars_[name] = value;
      in.pairs.emplace_back(name, value);
    }
    if (out_.from_line != 0) out_.steps.push_back(std::move(in));
    return Status::Ok();
  }

  Status Single(Instruction& in, const std::string& rest) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> words, Words(rest));
    if (words.size() != 1) return InvalidArgument(std::string(OpName(in.op)) + " takes one value");
    std::string value = Substitute(words[0], vars_);
    if (in.op == Op::kUser) {
      if (value == "0" || value == "root:root") value = "root";
      if (value == "1000" || value == "user:user") value = "user";
      if (value != "root" && value != "user")
        return InvalidArgument("USER " + value + ": a sandbox has two users, root and user (uid 1000)");
    } else if (value.find("..") != std::string::npos) {
      return InvalidArgument("WORKDIR " + value + ": must not contain '..'");
    }
    in.args = {value};
    out_.steps.push_back(std::move(in));
    return Status::Ok();
  }

  const std::map<std::string, std::string>& build_args_;
  std::map<std::string, std::string> vars_;
  Dockerfile out_;
};

}  // namespace

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kFrom:
      return "FROM";
    case Op::kRun:
      return "RUN";
    case Op::kCopy:
      return "COPY";
    case Op::kAdd:
      return "ADD";
    case Op::kEnv:
      return "ENV";
    case Op::kWorkdir:
      return "WORKDIR";
    case Op::kUser:
      return "USER";
    case Op::kArg:
      return "ARG";
  }
  return "?";
}

std::string Substitute(std::string_view word, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (c == '\\' && i + 1 < word.size() && word[i + 1] == '$') {
      out += '$', ++i;
      continue;
    }
    if (c != '$' || i + 1 == word.size()) {
      out += c;
      continue;
    }
    size_t start = i + 1, end;
    std::string name;
    if (word[start] == '{') {
      end = word.find('}', start);
      if (end == std::string_view::npos) {
        out += word.substr(i);
        break;
      }
      name = std::string(word.substr(start + 1, end - start - 1));
      i = end;
    } else {
      end = start;
      while (end < word.size() && (std::isalnum(static_cast<unsigned char>(word[end])) || word[end] == '_'))
        ++end;
      if (end == start) {
        out += c;
        continue;
      }
      name = std::string(word.substr(start, end - start));
      i = end - 1;
    }
    auto it = vars.find(name);
    if (it != vars.end()) out += it->second;
  }
  return out;
}

std::optional<std::string> DebianSuite(std::string_view from) {
  static const std::map<std::string, std::string> kSuites = {
      {"bullseye", "bullseye"}, {"bookworm", "bookworm"}, {"trixie", "trixie"},
      {"11", "bullseye"},       {"12", "bookworm"},       {"13", "trixie"},
      {"stable", "stable"},     {"testing", "testing"},   {"sid", "sid"}};
  std::string_view name = from;
  if (StartsWith(name, "debian:")) {
    name.remove_prefix(7);
  } else if (std::isdigit(static_cast<unsigned char>(name.empty() ? 'x' : name[0]))) {
    return std::nullopt;  // "12" alone is not a release name
  }
  auto it = kSuites.find(std::string(name));
  if (it == kSuites.end()) return std::nullopt;
  return it->second;
}

Result<Dockerfile> ParseDockerfile(std::string_view text, const std::string& file,
                                   const std::map<std::string, std::string>& build_args) {
  return Parser(file, build_args).Run(text);
}

}  // namespace kiln::tmpl
