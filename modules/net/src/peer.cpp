#include "medpipe/net/peer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"

namespace medpipe::net {

std::string Peer::Describe() const { return aet + " at " + host + ":" + std::to_string(port); }

std::string CheckAeTitle(const std::string& option, const std::string& aet) {
  const bool printable = std::all_of(aet.begin(), aet.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
  if (aet.empty() || aet.size() > 16 || !printable || aet.find_first_not_of(' ') == std::string::npos)
    throw ConfigError(option, "'" + aet + "' is not an AE title (1 to 16 printable characters, no backslash)");
  return aet;
}

Peer ParsePeer(const std::string& option, const std::string& host_port_aet) {
  const auto first = host_port_aet.find(':'), last = host_port_aet.rfind(':');
  if (first == std::string::npos || first == last || first == 0)
    throw ConfigError(option, "'" + host_port_aet + "' is not HOST:PORT:AET");
  Peer peer;
  peer.host = host_port_aet.substr(0, first);
  const std::string port = host_port_aet.substr(first + 1, last - first - 1);
  size_t used = 0;
  long number = 0;
  try {
    number = std::stol(port, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != port.size() || number < 1 || number > 65535)
    throw ConfigError(option, "'" + port + "' is not a port number (1-65535)");
  peer.port = static_cast<uint16_t>(number);
  peer.aet = CheckAeTitle(option, host_port_aet.substr(last + 1));
  return peer;
}

void WithRetries(const NetSettings& settings, const std::string& what, const std::function<void()>& operation) {
  double backoff_s = settings.first_backoff_s;
  for (int attempt = 1;; ++attempt) {
    try {
      operation();
      return;
    } catch (const NetworkError& error) {
      if (!error.Transient() || attempt >= settings.attempts) throw;
      std::ostringstream message;
      message << what << ": try " << attempt << " of " << settings.attempts << " failed (" << error.what() << "); trying again in "
              << backoff_s << " s";
      Log(LogLevel::Warning, message.str());
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff_s));
      backoff_s *= 2;
    }
  }
}

}  // namespace medpipe::net
