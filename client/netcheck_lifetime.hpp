#pragma once
// `vpnpeer netcheck --mapping-lifetime`: how long the NAT keeps an idle UDP mapping
// (client/netcheck/MappingLifetime, RFC 5780 section 4.6), measured against the rendezvous the
// rest of netcheck used. The sender is netcheck's own socket; one extra socket per idle time
// tried. Blocking, with poll(): at most the longest idle time (180 s) plus about 10 s, less
// when a shorter idle time is already lost. With a network key every datagram is sealed.
// Never throws except std::bad_alloc; problems end up in the result's note.
#include "client/netcheck/mapping_lifetime.hpp"
#include "protocol/ip_address.hpp"
#include "session/outer_seal.hpp"

namespace vpn::client {

netcheck::MappingLifetimeResult probeMappingLifetime(int sender_fd,
                                                     const protocol::Endpoint& server,
                                                     const protocol::IpAddress& sender_public,
                                                     session::OuterSeal* seal);

}  // namespace vpn::client
