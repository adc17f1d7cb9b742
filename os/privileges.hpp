#pragma once
// dropPrivileges: after a program has opened everything that needs root (TUN device, netlink
// sockets, sockets on low ports, key files), it becomes an unprivileged user and keeps only the
// capabilities it still needs:
//   - setgid/setuid to the user and its primary group, supplementary groups dropped;
//   - permitted and effective capabilities reduced to `keep`, the bounding and ambient sets
//     cleared (libcap-ng's capng_change_id), so nothing can be regained, not even by exec;
//   - PR_SET_NO_NEW_PRIVS, so no exec can add privileges either.
// Run as a non-root user already (systemd's User= with AmbientCapabilities=), it keeps only the
// capabilities of `keep` it holds, clears the ambient set and sets NO_NEW_PRIVS.
//
// Which user: `user` from the file; empty means "vpnpeer" if that system user exists, else
// "nobody". The word "root" keeps root (a warning-worthy choice the caller reports).
//
// Errors: throws PrivilegeError with one sentence (unknown user, a failed step). Call it once,
// from the main thread, before other threads exist (libuv's pool starts lazily, with the first
// DNS lookup) so every thread shares the new credentials.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vpn::os {

class PrivilegeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Who a program will run as: the resolved user, and whether dropPrivileges switches to it.
struct RunAs {
  std::string user;
  std::uint32_t uid = 0, gid = 0;
  bool switches = false;  // we are root and the user is not
};

// Resolves the configured user ("" = "vpnpeer" if it exists, else "nobody"). Throws
// PrivilegeError if it does not exist.
RunAs lookupRunAs(const std::string& configured);

struct DropRequest {
  RunAs to;
  std::vector<int> keep;   // capability numbers (CAP_NET_ADMIN, ...)
};

struct DropResult {
  bool switched = false;   // the uid changed
  std::string user;        // who we run as now
  std::string kept;        // "cap_net_admin" or "none"
};

DropResult dropPrivileges(const DropRequest& request);

}  // namespace vpn::os
