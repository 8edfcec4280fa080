#pragma once
// Who medpipe talks DICOM with and how patiently: a peer's address and AE title, medpipe's own AE
// title, one timeout for connecting and for every message, and retries with backoff.
#include <cstdint>
#include <functional>
#include <string>

namespace medpipe::net {

struct Peer {
  std::string host;
  uint16_t port = 0;
  std::string aet;
  std::string Describe() const;  // "AET at HOST:PORT", the prefix of every error about this peer
};

// "HOST:PORT:AET" (--send); throws ConfigError naming OPTION.
Peer ParsePeer(const std::string& option, const std::string& host_port_aet);
// An AE title as DICOM allows it (1-16 characters, no backslash or control character, not blank);
// throws ConfigError naming OPTION.
std::string CheckAeTitle(const std::string& option, const std::string& aet);

struct NetSettings {
  std::string own_aet = "MEDPIPE";
  double timeout_s = 30;  // connecting, negotiating, and waiting for each message
  int attempts = 3;       // tries of one operation while it fails transiently
  double first_backoff_s = 1;  // wait before the second try; doubled before each further one
};

// Runs OPERATION until it succeeds, throws anything but a transient NetworkError, or has been tried
// SETTINGS.attempts times (the last error is rethrown). Logs each failed try with WHAT.
void WithRetries(const NetSettings& settings, const std::string& what, const std::function<void()>& operation);

}  // namespace medpipe::net
