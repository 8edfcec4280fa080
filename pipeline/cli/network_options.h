#pragma once
// The options of every command that talks DICOM over the network (listen, fetch, run --send).
#include <cstdint>

#include <boost/program_options.hpp>

#include "medpipe/net/peer.h"

namespace medpipe::cli {

// --aet (medpipe's own AE title), --net-timeout, --net-attempts.
void AddNetworkOptions(boost::program_options::options_description& options);
net::NetSettings NetSettingsOf(const boost::program_options::variables_map& vm);  // throws ConfigError
// --port (of listen, and of fetch's C-MOVE destination); throws ConfigError unless it is 1 to 65535.
uint16_t PortOf(const boost::program_options::variables_map& vm);

}  // namespace medpipe::cli
