#include "network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace kiln::sandbox {
namespace {

// Unreachable unless allowed: "this network", RFC 1918, carrier-grade NAT, link-local (169.254.169.254 is
// the cloud metadata service), multicast and the reserved block with the broadcast address.
constexpr const char* kDeniedByDefault[] = {"0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10",
                                            "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
                                            "224.0.0.0/4",    "240.0.0.0/4"};

// slirp4netns relays each connection through a host socket: its fd limit bounds the sandbox's concurrent
// connections.
constexpr rlim_t kMaxHelperFds = 1024;
constexpr int kReadyTimeoutMs = 10'000;
constexpr int kHelperExitFd = 3, kHelperReadyFd = 4;

std::string HelperPath() {
  const char* env = std::getenv("KILN_SLIRP4NETNS");
  return env && *env ? env : "/usr/bin/slirp4netns";
}

void AddRoute(std::vector<EgressRoute>& routes, EgressRoute route) {
  for (EgressRoute& r : routes) {
    if (r.destination == route.destination) {
      r = route;
      return;
    }
  }
  routes.push_back(route);
}

Status AddList(std::vector<EgressRoute>& routes, const char* field, const std::vector<std::string>& cidrs,
               bool allow) {
  for (size_t i = 0; i < cidrs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(Ipv4Cidr c,
                          ParseIpv4Cidr(std::string(field) + "[" + std::to_string(i) + "]", cidrs[i]));
    AddRoute(routes, {c, allow});
  }
  return Status::Ok();
}

void AddHostAddresses(std::vector<EgressRoute>& routes) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    uint32_t host = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
    if ((host >> 24) == 127) continue;  // the sandbox's own loopback
    AddRoute(routes, {{host, 32}, false});
  }
  freeifaddrs(list);
}

void PutAttribute(char* buf, size_t& len, unsigned short type, const void* data, unsigned short size) {
  auto* attr = reinterpret_cast<rtattr*>(buf + len);
  attr->rta_type = type;
  attr->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
  std::memcpy(RTA_DATA(attr), data, size);
  len += RTA_SPACE(size);
}

Status SendRoute(int sock, const EgressRoute& route, uint32_t gateway_be, unsigned seq) {
  alignas(nlmsghdr) char buf[256] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(buf);
  auto* rt = reinterpret_cast<rtmsg*>(NLMSG_DATA(header));
  size_t len = NLMSG_LENGTH(sizeof(rtmsg));
  header->nlmsg_type = RTM_NEWROUTE;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  header->nlmsg_seq = seq;
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = static_cast<unsigned char>(route.destination.prefix);
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = route.allow ? RTN_UNICAST : RTN_UNREACHABLE;
  uint32_t dst = htonl(route.destination.address);
  if (route.destination.prefix > 0) PutAttribute(buf, len, RTA_DST, &dst, sizeof dst);
  if (route.allow) PutAttribute(buf, len, RTA_GATEWAY, &gateway_be, sizeof gateway_be);
  header->nlmsg_len = static_cast<uint32_t>(len);
  if (send(sock, buf, len, 0) != static_cast<ssize_t>(len)) return ErrnoStatus("send(RTM_NEWROUTE)", errno);
  alignas(nlmsghdr) char reply[512];
  ssize_t n;
  do n = recv(sock, reply, sizeof reply, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("recv(RTM_NEWROUTE ack)", errno);
  auto* answer = reinterpret_cast<nlmsghdr*>(reply);
  if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) || answer->nlmsg_type != NLMSG_ERROR)
    return Internal("rtnetlink: unexpected answer to RTM_NEWROUTE");
  int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(answer))->error;
  return err == 0 ? Status::Ok() : ErrnoStatus("rtnetlink RTM_NEWROUTE (egress rule)", err);
}

}  // namespace

Result<Ipv4Cidr> ParseIpv4Cidr(const std::string& field, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument(field + ": " + why + ", got '" + text + "'");
  };
  std::string address = text;
  int prefix = 32;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    address = text.substr(0, slash);
    std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 2 || bits.find_first_not_of("0123456789") != std::string::npos)
      return bad("the prefix length must be 0 to 32");
    prefix = std::atoi(bits.c_str());
    if (prefix > 32) return bad("the prefix length must be 0 to 32");
  }
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    if (address.find(':') != std::string::npos) return bad("IPv6 is not routed in a sandbox");
    return bad("expected an IPv4 address or CIDR (domain names are not supported)");
  }
  uint32_t host = ntohl(parsed.s_addr);
  uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
  return Ipv4Cidr{host & mask, prefix};
}

Result<std::vector<EgressRoute>> PlanEgressRoutes(const NetworkRules& rules) {
  std::vector<EgressRoute> routes;
  for (const char* cidr : kDeniedByDefault) {
    Result<Ipv4Cidr> c = ParseIpv4Cidr("default", cidr);
    if (c.ok()) routes.push_back({*c, false});
  }
  AddHostAddresses(routes);
  KILN_RETURN_IF_ERROR(AddList(routes, "network.deny_out", rules.deny_out, false));
  KILN_RETURN_IF_ERROR(AddList(routes, "network.allow_out", rules.allow_out, true));
  return routes;
}

Status InstallEgressRoutes(const EgressRoute* routes, size_t count) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) return ErrnoStatus("socket(AF_NETLINK)", errno);
  in_addr gateway{};
  inet_pton(AF_INET, kUserNetGateway, &gateway);
  Status s = Status::Ok();
  for (size_t i = 0; i < count && s.ok(); ++i)
    s = SendRoute(sock, routes[i], gateway.s_addr, static_cast<unsigned>(i + 1));
  close(sock);
  return s;
}

UserNetwork::UserNetwork(UserNetwork&& o) noexcept
    : hold_read_(std::move(o.hold_read_)), hold_write_(std::move(o.hold_write_)), pid_(o.pid_) {
  o.pid_ = 0;
}

UserNetwork& UserNetwork::operator=(UserNetwork&& o) noexcept {
  if (this != &o) {
    Stop();
    hold_read_ = std::move(o.hold_read_);
    hold_write_ = std::move(o.hold_write_);
    pid_ = o.pid_;
    o.pid_ = 0;
  }
  return *this;
}

Result<UserNetwork> UserNetwork::Prepare() {
  if (access(HelperPath().c_str(), X_OK) != 0) {
    return FailedPrecondition("a sandbox with network needs slirp4netns (" + HelperPath() + ": " +
                              std::strerror(errno) + "): apt-get install slirp4netns");
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2(network hold)", errno);
  UserNetwork net;
  net.hold_read_ = UniqueFd(fds[0]);
  net.hold_write_ = UniqueFd(fds[1]);
  return net;
}

Status UserNetwork::Start(pid_t pid, bool via_userns) {
  hold_write_.reset();  // the sandbox's copy is now the only one
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe2(network ready)", errno);
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  std::string proc = "/proc/" + std::to_string(pid);
  std::vector<std::string> args = {HelperPath(),
                                   "--configure",
                                   "--mtu=65520",
                                   "--disable-host-loopback",
                                   "--exit-fd=" + std::to_string(kHelperExitFd),
                                   "--ready-fd=" + std::to_string(kHelperReadyFd)};
  if (via_userns) {
    args.insert(args.end(), {"--userns-path=" + proc + "/ns/user", "--netns-type=path", proc + "/ns/net"});
  } else {
    args.push_back(std::to_string(pid));
  }
  args.push_back("tap0");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, hold_read_.get(), kHelperExitFd);
  posix_spawn_file_actions_adddup2(&actions, ready_write.get(), kHelperReadyFd);
  int err = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  hold_read_.reset();
  ready_write.reset();
  if (err != 0) {
    pid_ = 0;
    return ErrnoStatus("posix_spawn(" + args[0] + ")", err);
  }
  rlimit fds{kMaxHelperFds, kMaxHelperFds};
  (void)prlimit(pid_, RLIMIT_NOFILE, &fds, nullptr);
  pollfd p{ready_read.get(), POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, kReadyTimeoutMs);
  while (rc < 0 && errno == EINTR);
  char byte = 0;
  if (rc <= 0 || read(ready_read.get(), &byte, 1) != 1) {
    Stop();
    return Unavailable(rc == 0 ? "slirp4netns did not configure the sandbox's network within 10 s"
                               : "slirp4netns exited before configuring the sandbox's network");
  }
  return Status::Ok();
}

void UserNetwork::Stop() {
  hold_read_.reset();
  hold_write_.reset();
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

}  // namespace kiln::sandbox
