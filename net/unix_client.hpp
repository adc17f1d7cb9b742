#pragma once
// unixRequest: the CLI side of the control socket (see unix_server.hpp for the protocol).
// Plain blocking POSIX, no event loop: connects, sends request_line plus '\n', reads the response
// until the server closes. The whole exchange is bounded by timeout.
// Threading: any thread; no shared state. Errors: throws NetError with one clear sentence, e.g.
// "no vpnpeer is running (cannot connect to /run/vpnpeer/alice.sock: No such file or directory)".
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "net/net_error.hpp"

namespace vpn::net {

std::string unixRequest(const std::filesystem::path& socket, std::string_view request_line,
                        std::chrono::milliseconds timeout);

}  // namespace vpn::net
