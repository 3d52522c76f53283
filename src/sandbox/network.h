// The sandbox's network when its spec asks for one (internal): a user-mode stack and egress routes.
//
// The sandbox always gets its own network namespace. With `network` on, slirp4netns (a process of the host
// user, started by the launcher) attaches a tap device to that namespace and relays its traffic through
// ordinary host sockets, so no host interface, route or firewall rule is created and no root is needed. It
// runs with --disable-host-loopback (the host's 127.0.0.1 stays out of reach) and ends when the read end of
// its exit pipe sees the sandbox's last process die, whether or not the Kiln process that started it lives.
//
// Egress rules are routes inside the sandbox's namespace, installed by the sandbox's first process while it
// still holds CAP_NET_ADMIN there: "unreachable" routes for denied CIDRs, routes through slirp's gateway for
// allowed ones. Sandboxed code never holds CAP_NET_ADMIN, so it cannot change them; a name that resolves to
// a denied address (DNS rebinding) hits the same route.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::sandbox {

// slirp4netns's fixed addresses in the sandbox (its defaults for 10.0.2.0/24).
inline constexpr char kUserNetGateway[] = "10.0.2.2";
inline constexpr char kUserNetDns[] = "10.0.2.3";

struct Ipv4Cidr {
  uint32_t address = 0;  // host byte order, masked to the prefix
  int prefix = 32;
  bool operator==(const Ipv4Cidr&) const = default;
};

// "a.b.c.d/n" or "a.b.c.d" (/32). InvalidArgument naming `field` and the text otherwise (IPv6 and domain
// names included: the sandbox has no IPv6, and names need a proxy Kiln does not have yet).
Result<Ipv4Cidr> ParseIpv4Cidr(const std::string& field, const std::string& text);

// One route of the sandbox's egress table.
struct EgressRoute {
  Ipv4Cidr destination;
  bool allow = false;  // true: via slirp's gateway; false: unreachable
};

// The routes for `rules`: the default denials (private, link-local, metadata, the host's own IPv4
// addresses from getifaddrs), then denyOut, then allowOut, each later one replacing an equal prefix.
Result<std::vector<EgressRoute>> PlanEgressRoutes(const NetworkRules& rules);

// Child side, before exec and before capabilities are dropped: installs `routes` through rtnetlink. Raw
// syscalls and stack buffers only (the child may share the parent's memory).
Status InstallEgressRoutes(const EgressRoute* routes, size_t count);

// Host side: a running slirp4netns for one sandbox.
class UserNetwork {
 public:
  UserNetwork() = default;
  UserNetwork(UserNetwork&&) noexcept;
  UserNetwork& operator=(UserNetwork&&) noexcept;
  ~UserNetwork() { Stop(); }

  // Before clone: the pipe whose write end the sandbox's init keeps (hold_fd), read by slirp4netns.
  static Result<UserNetwork> Prepare();
  int hold_fd() const { return hold_write_.get(); }
  // After clone, once the child's id maps are written: closes this process's copy of the hold end, starts
  // slirp4netns on `pid`'s namespaces and waits until it has configured tap0. `via_userns`: join the
  // sandbox's user namespace too (Kiln without root).
  Status Start(pid_t pid, bool via_userns);
  // SIGKILL and reap; idempotent. The sandbox's end makes slirp4netns exit by itself; this covers the
  // time between the init's death and the last process of its namespace.
  void Stop();
  pid_t pid() const { return pid_; }

 private:
  UniqueFd hold_read_, hold_write_;
  pid_t pid_ = 0;
};

}  // namespace kiln::sandbox
