#include "client/control_protocol.hpp"

#include <algorithm>

namespace vpn::client {

std::optional<ControlCommand> commandFromName(std::string_view name) {
  if (name == "status") {
    return ControlCommand::kStatus;
  }
  if (name == "down") {
    return ControlCommand::kDown;
  }
  if (name == "explain") {
    return ControlCommand::kExplain;
  }
  return std::nullopt;
}

std::string formatExplainArgument(std::string_view peer, bool json) {
  std::string r(peer);
  if (json) {
    r += " json";
  }
  return r;
}

std::optional<ExplainArgument> parseExplainArgument(std::string_view argument, std::string& error) {
  auto space = argument.find(' ');
  ExplainArgument out;
  out.peer = std::string(argument.substr(0, space));
  if (out.peer.empty()) {
    error = "explain needs a peer name, e.g. `vpnpeer explain bob`";
    return std::nullopt;
  }
  if (space != std::string_view::npos) {
    std::string_view format = argument.substr(space + 1);
    if (format == "json") {
      out.json = true;
    } else if (format != "text") {
      error = "explain takes a peer name and optionally json or text, not '" +
              std::string(format) + "'";
      return std::nullopt;
    }
  }
  return out;
}

std::string formatRequest(std::string_view command, std::string_view argument) {
  std::string r(kControlVersion);
  r += ' ';
  r += command;
  if (!argument.empty()) {
    r += ' ';
    r += argument;
  }
  r += '\n';
  return r;
}

std::optional<ControlRequest> parseRequest(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (line.substr(0, kControlVersion.size()) != kControlVersion ||
      line.size() <= kControlVersion.size() + 1 || line[kControlVersion.size()] != ' ') {
    return std::nullopt;
  }
  line.remove_prefix(kControlVersion.size() + 1);
  ControlRequest req;
  auto space = line.find(' ');
  req.command = std::string(line.substr(0, space));
  if (space != std::string_view::npos) {
    req.argument = std::string(line.substr(space + 1));
  }
  // One line of printable words: a control character (a newline inside, a NUL) is not ours.
  auto printable = [](std::string_view w) {
    return std::none_of(w.begin(), w.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
  };
  if (req.command.empty() || !printable(req.command) || !printable(req.argument)) {
    return std::nullopt;
  }
  return req;
}

std::string okResponse(std::string_view body) {
  std::string r(kControlVersion);
  r += " OK\n";
  r += body;
  return r;
}

std::string errorResponse(std::string_view sentence) {
  std::string r(kControlVersion);
  r += " ERR ";
  // The sentence may quote request words; a control character would break the one-line framing.
  for (char c : sentence) {
    r += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  r += '\n';
  return r;
}

ControlResponse parseResponse(std::string_view text) {
  auto nl = text.find('\n');
  std::string_view first = text.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  std::string ok_line = std::string(kControlVersion) + " OK";
  std::string err_prefix = std::string(kControlVersion) + " ERR ";
  if (first == ok_line) {
    return {true, std::string(rest)};
  }
  if (first.substr(0, err_prefix.size()) == err_prefix) {
    return {false, std::string(first.substr(err_prefix.size()))};
  }
  return {false, "the daemon answered in an unknown protocol version; run the same vpnpeer "
                 "version for `up` and for this command"};
}

}  // namespace vpn::client
