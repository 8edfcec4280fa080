#include "network_options.h"

#include "medpipe/core/error.h"

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
  settings.timeout_s = vm["net-timeout"].as<double>();
  settings.attempts = vm["net-attempts"].as<int>();
  if (!(settings.timeout_s >= 1)) throw ConfigError("--net-timeout", "must be at least 1 second");
  if (settings.attempts < 1) throw ConfigError("--net-attempts", "must be at least 1");
  return settings;
}

}  // namespace medpipe::cli
