#include "os/privileges.hpp"

#include <cap-ng.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vpn::os {
namespace {

void noNewPrivs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw PrivilegeError(std::string("cannot set no_new_privs: ") + std::strerror(errno));
  }
}

std::string capNames(const std::vector<int>& caps) {
  std::string out;
  for (int c : caps) {
    const char* n = capng_capability_to_name(static_cast<unsigned>(c));
    out += out.empty() ? "" : ",";
    out += n != nullptr ? std::string("cap_") + n : std::to_string(c);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

RunAs lookupRunAs(const std::string& configured) {
  std::string name = configured;
  if (name.empty()) {
    name = ::getpwnam("vpnpeer") != nullptr ? "vpnpeer" : "nobody";
  }
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    throw PrivilegeError(
        configured.empty()
            ? std::string("neither a 'vpnpeer' nor a 'nobody' user exists to run as; create one "
                          "(useradd --system vpnpeer) or name a user in the file")
            : "user '" + name + "' does not exist; create it or name another in the file");
  }
  RunAs r;
  r.user = name;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  r.switches = ::geteuid() == 0 && r.uid != 0;
  return r;
}

DropResult dropPrivileges(const DropRequest& request) {
  DropResult r;
  if (!request.to.switches) {
    r.kept = "all (running as root)";
    if (::geteuid() != 0) {
      // Started unprivileged with capabilities (systemd's AmbientCapabilities=): keep only
      // those of `keep` we hold, in the effective and permitted sets; nothing inheritable or
      // ambient.
      capng_get_caps_process();
      std::vector<int> held;
      for (int c : request.keep) {
        if (capng_have_capability(CAPNG_PERMITTED, static_cast<unsigned>(c)) != 0) {
          held.push_back(c);
        }
      }
      capng_clear(CAPNG_SELECT_CAPS);
      for (int c : held) {
        capng_update(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED),
                     static_cast<unsigned>(c));
      }
      if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
        throw PrivilegeError(std::string("cannot drop capabilities: ") + std::strerror(errno));
      }
      (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
      r.kept = capNames(held);
    }
    noNewPrivs();
    const passwd* pw = ::getpwuid(::getuid());
    r.user = pw != nullptr ? pw->pw_name : std::to_string(::getuid());
    return r;
  }
  capng_clear(CAPNG_SELECT_BOTH);
  for (int c : request.keep) {
    if (capng_update(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED),
                     static_cast<unsigned>(c)) != 0) {
      throw PrivilegeError("cannot keep capability " + capNames({c}));
    }
  }
  int rc = capng_change_id(static_cast<int>(request.to.uid), static_cast<int>(request.to.gid),
                           static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING));
  if (rc != 0) {
    throw PrivilegeError("cannot switch to user '" + request.to.user + "' (libcap-ng step " +
                         std::to_string(-rc) + " failed: " + std::strerror(errno) + ")");
  }
  noNewPrivs();
#if defined(__SANITIZE_ADDRESS__)
  // Sanitizer builds only: LeakSanitizer stops the process's threads with ptrace at exit, which
  // a process that changed uid may not do to itself. Release builds stay non-dumpable, so other
  // processes of the same user cannot read our keys.
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
  r.switched = true;
  r.user = request.to.user;
  r.kept = capNames(request.keep);
  return r;
}

}  // namespace vpn::os
