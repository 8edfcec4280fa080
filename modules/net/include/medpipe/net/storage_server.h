#pragma once
// C-STORE SCP: accepts associations on a port (several at once, each on its own thread) and files
// every object it receives into an Inbox. `medpipe listen` runs one for as long as it runs; `medpipe
// fetch` runs one while a C-MOVE brings studies to it.
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "medpipe/net/inbox.h"

namespace medpipe::net {

struct ServerSettings {
  uint16_t port = 11112;
  std::string aet = "MEDPIPE";           // the called AE title medpipe answers to
  std::set<std::string> allowed_callers;  // calling AE titles accepted; empty: any
  double timeout_s = 30;                  // for negotiating and for each message
  unsigned max_associations = 8;          // served at once; more are refused as busy
  uint64_t min_free_bytes = 0;            // objects are refused (out of resources) while the inbox's disk has less free
};

class StorageServer {
 public:
  // Opens the port (throws NetworkError when it cannot, e.g. it is in use).
  StorageServer(const ServerSettings& settings, Inbox& inbox);
  ~StorageServer();
  // Serves associations until Stop(); the associations in progress end first.
  void Serve();
  // Waits until Serve(), running on another thread, accepts connections (DCMTK opens the port only
  // inside it); throws NetworkError after TIMEOUT_S seconds.
  void WaitUntilServing(double timeout_s) const;
  // From any thread (or a signal handler's flag check): Serve returns within about a second.
  void Stop();

 private:
  class Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace medpipe::net
