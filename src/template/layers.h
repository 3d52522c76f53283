// File-system work of a template build on the host: ownership shifts, overlay mounts, copies, hashes.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::tmpl {

// The host uid the sandbox's root maps to when Kiln runs as root (the launcher's KILN_UID_BASE, default
// 0x70000000); sandbox id N (N < sandbox::kSandboxIdCount) is this + N.
uid_t SandboxRootHostUid();

// Rewrites owners under `dir` (not following symlinks) between the on-disk form of a template root (ids
// 0-65535 as the sandbox sees them) and the form a build sandbox writes (SandboxRootHostUid() + that),
// restoring the setuid and setgid bits chown clears. to_sandbox: N -> base + N; else base + N -> N.
Status ShiftOwners(const std::string& dir, bool to_sandbox);

// Mounts an overlay at `target`: `lowers` bottom first; `upper` empty: read-only (then at least one lower).
Status MountOverlay(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work,
                    const std::string& target);
Status Unmount(const std::string& target);

// Runs argv (no shell), output appended to `output`; the exit status, or an error when it cannot start.
Result<int> RunHostCommand(const std::vector<std::string>& argv, std::string* output);

// `cp -a SRC/. DST` (DST created): hard links, xattrs, devices and owners kept.
Status CopyTree(const std::string& src, const std::string& dst);

// Bytes in use under `dir` (blocks, each hard-linked inode once).
int64_t DiskUsage(const std::string& dir);

// SHA-256 hex of `data`.
std::string Sha256Hex(std::string_view data);
// A digest of `path` (a file, or a directory recursively): names, types, modes, link targets and bytes.
Result<std::string> HashPath(const std::string& path);

// The apt mirror for mmdebstrap: $KILN_APT_MIRROR, else the first URI ending in /debian in
// /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}, else http://deb.debian.org/debian.
std::string AptMirror();

}  // namespace kiln::tmpl
