// The control sockets' protocol, both programs: request lines, responses, explain arguments, and
// the rendezvous status request. Round trip: a request the daemon parses formats back the same.
#include <string>

#include "client/control_protocol.hpp"
#include "rendezvous/status.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn;
  std::string_view line = fuzz::asText({data, size});
  if (auto req = client::parseRequest(line)) {
    auto again = client::parseRequest(client::formatRequest(req->command, req->argument));
    FUZZ_CHECK(again && again->command == req->command && again->argument == req->argument);
  }
  (void)client::parseResponse(line);
  std::string error;
  if (auto e = client::parseExplainArgument(line, error)) {
    FUZZ_CHECK(!e->peer.empty());
  } else {
    FUZZ_CHECK(!error.empty());
  }
  FUZZ_CHECK(client::errorResponse(line).find('\n') == client::errorResponse(line).size() - 1);
  std::string response;
  if (!rendezvous::parseStatusRequest(line, response)) {
    FUZZ_CHECK(!response.empty());
  }
  return 0;
}
