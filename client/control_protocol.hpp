#pragma once
// The control protocol between `vpnpeer status|down` and a running `vpnpeer up`, over the Unix
// socket named by [peer] control_socket. One request per connection:
//
//   request:  "VPNPEER/1 <command> [<argument>]\n"      command: status | down | explain
//             status takes "json" or "text" as argument
//             explain takes "PEER", "PEER json" or "PEER text" (docs/explain.md)
//   response: "VPNPEER/1 OK\n<body>"   or   "VPNPEER/1 ERR <one sentence>\n"
//
// The version in the first word lets a newer client talk to an older daemon and fail clearly.
// Pure functions; no I/O.
#include <optional>
#include <string>
#include <string_view>

namespace vpn::client {

inline constexpr std::string_view kControlVersion = "VPNPEER/1";

struct ControlRequest {
  std::string command;
  std::string argument;
};

enum class ControlCommand { kStatus, kDown, kExplain };
// The command names a daemon of this version answers, for "unknown command" errors.
inline constexpr std::string_view kKnownCommands = "status, down, explain";
// nullopt for a name this version does not know.
std::optional<ControlCommand> commandFromName(std::string_view name);

// The argument of `explain`: a peer name and the output format.
struct ExplainArgument {
  std::string peer;
  bool json = false;
};
std::string formatExplainArgument(std::string_view peer, bool json);
// nullopt (and `error` set to one sentence) when the peer is missing, the format is neither
// "json" nor "text", or there are extra words.
std::optional<ExplainArgument> parseExplainArgument(std::string_view argument, std::string& error);

std::string formatRequest(std::string_view command, std::string_view argument = {});
// nullopt if the line is not a request of our version, or has a control character in it (the
// caller answers with an error).
std::optional<ControlRequest> parseRequest(std::string_view line);

std::string okResponse(std::string_view body);
// Control characters in the sentence are replaced by '?', keeping the response one line.
std::string errorResponse(std::string_view sentence);

struct ControlResponse {
  bool ok = false;
  std::string body;  // the body when ok, the sentence otherwise
};
// A response that does not start with our version is reported as an error.
ControlResponse parseResponse(std::string_view text);

}  // namespace vpn::client
