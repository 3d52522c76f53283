// The template store: built templates under HOME/templates (HOME is $KILN_HOME or ~/.kiln).
//
//   HOME/templates/NAME/rootfs/          the immutable root filesystem (or, for FROM host, what the build
//                                        added beside the host's /usr)
//   HOME/templates/NAME/template.json    TemplateInfo, format version 1 (below)
//   HOME/templates/NAME/build.log        every step's command and output
//   HOME/templates/.layers/ID/           cached build layers (overlay upper directories), by content hash
//
// A template is written under a temporary name and renamed into place, so a reader sees a whole one or
// none. Thread-compatible: concurrent builds of one name are the caller's to prevent.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::tmpl {

inline constexpr int kTemplateFormat = 1;

struct TemplateInfo {
  std::string name;
  std::string base;  // "host" (layers on the host's /usr) or "rootfs" (a full root filesystem)
  std::string from;  // the FROM line as given
  double cpu_count = 1;
  int64_t memory_mb = 512, disk_mb = 512;
  std::map<std::string, std::string> env;
  std::string workdir = "/home/user";
  std::string user = "user";  // who processes run as by default: "user" or "root"
  // E2B's start and ready commands: the start command runs in the background in every sandbox made from
  // the template, which is ready (its create returns) once the ready command exits 0, within
  // ready_timeout_s (see ready.h).
  std::string start_cmd, ready_cmd;
  int64_t ready_timeout_s = 60;
  std::string description;      // `# kiln: description`, for listings; empty: "built from FROM"
  bool python_context = false;  // `# kiln: code-context python`: the default Python code context starts
  std::string envd_version;     // the Kiln (and kiln-envd) version that built it
  int64_t created_ms = 0;
  int64_t size_bytes = 0;           // of rootfs/
  std::vector<std::string> layers;  // layer ids, bottom first
  std::string root;                 // absolute path of rootfs/ (not stored: derived from the store)
  std::string build_log;            // path of build.log (not stored)
};

std::string TemplateInfoToJson(const TemplateInfo& info);
Result<TemplateInfo> TemplateInfoFromJson(const std::string& text);  // InvalidArgument on a bad document

// NAME: 1-63 of [a-z0-9._-], starting with a letter or digit; not a built-in name ("base",
// "code-interpreter-v1", "host").
Status ValidateTemplateName(const std::string& name);

class TemplateStore {
 public:
  // `home` empty: $KILN_HOME, else $HOME/.kiln.
  explicit TemplateStore(std::string home = "");
  const std::string& dir() const { return dir_; }  // HOME/templates
  std::string LayersDir() const { return dir_ + "/.layers"; }

  // Sorted by name. Templates whose metadata cannot be read are skipped.
  std::vector<TemplateInfo> List() const;
  // NotFound names the known templates.
  Result<TemplateInfo> Get(const std::string& name) const;
  // Removes the template (its cached layers stay for rebuilds; Prune removes them). NotFound when absent.
  Status Remove(const std::string& name) const;
  // Removes every cached layer; returns how many.
  Result<int> Prune() const;
  // Moves a finished build (`staging` holds rootfs/, template.json, build.log) into place as `name`,
  // replacing an older one.
  Status Install(const std::string& staging, const std::string& name) const;

 private:
  std::string dir_;
};

// Fills `spec` to run on `info`'s root: its directories as copy-on-write layers over the template's
// read-only files (the template itself is never written), its env, workdir and limits, its /etc/passwd and
// /etc/group under Kiln's accounts (a rootfs template), and the files of its /home/user seeded into the
// sandbox's home. Fails when the root is missing or its home holds more than
// the home tmpfs could. The default user (`info.user`) is not part of a spec: the caller passes it on
// (runtime::CreateOptions::default_user, runtime::RunRequest::user).
Status ApplyTemplate(const TemplateInfo& info, sandbox::SandboxSpec& spec);

}  // namespace kiln::tmpl
