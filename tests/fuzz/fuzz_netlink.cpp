// rtnetlink datagrams as the kernel would send them to our monitor and request sockets: the
// event parser, the message splitter, error and address parsing.
#include <vector>

#include "tests/fuzz/fuzz_input.hpp"
#include "tun/netlink_events.hpp"
#include "tun/netlink_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vpn::tun::netlink;
  std::span<const std::uint8_t> in(data, size);
  std::vector<NetlinkEvent> events;
  (void)parseEvents(in, events);
  if (auto msgs = splitMessages(in)) {
    for (const auto& m : *msgs) {
      FUZZ_CHECK(m.whole.size() >= m.payload.size());
      (void)parseError(m);
      (void)parseErrorText(m);
      (void)parseAddress(m);
    }
  }
  (void)parseAddress(in);
  return 0;
}
