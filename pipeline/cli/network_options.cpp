#include "cli/network_options.h"

#include "cli/option_errors.h"

namespace po = boost::program_options;

namespace medpipe::cli {

void AddNetworkOptions(po::options_description& options) {
  options.add_options()
      ("aet", po::value<std::string>()->default_value("MEDPIPE"), "medpipe's own AE title")
      ("net-timeout", po::value<double>()->default_value(30), "seconds to connect, negotiate or wait for one message before giving up")
      ("net-attempts", po::value<int>()->default_value(3),
       "tries of a network operation that fails transiently (refused or dropped connection, timeout); waits 1 s, 2 s, 4 s ... between them");
}

net::NetSettings NetSettingsOf(const po::variables_map& vm) {
  net::NetSettings settings;
  settings.own_aet = net::CheckAeTitle("--aet", vm["aet"].as<std::string>());
  settings.timeout_s = AtLeast("--net-timeout", vm["net-timeout"].as<double>(), 1.0, " second");
  settings.attempts = AtLeast("--net-attempts", vm["net-attempts"].as<int>(), 1, " (1: no second try)");
  return settings;
}

uint16_t PortOf(const po::variables_map& vm) {
  const unsigned port = vm["port"].as<unsigned>();
  if (port < 1 || port > 65535) throw OptionError("--port", port, "a TCP port, 1 to 65535");
  return static_cast<uint16_t>(port);
}

}  // namespace medpipe::cli
