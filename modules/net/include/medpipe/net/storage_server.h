#pragma once
// C-STORE SCP: accepts associations on a port (several at once, each on its own thread) and files
// every object it receives into an Inbox. `medpipe listen` runs one for as long as it runs; `medpipe
// fetch` runs one while a C-MOVE brings studies to it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

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
  // Checks that the port is free (throws NetworkError when it is not, e.g. it is in use); serves
  // nothing yet.
  StorageServer(const ServerSettings& settings, Inbox& inbox);
  ~StorageServer();  // Stop()
  // Serves associations on a thread of its own and returns once the port accepts connections: DCMTK
  // opens it only inside its serving loop, and a peer told to connect at once (a C-MOVE) must find
  // it open. Throws NetworkError when serving fails or the port does not open within the timeout.
  void Start();
  // Why serving ended on its own; empty while it serves.
  std::string Failure() const;
  // Finishes the associations in progress and ends serving, within about a second.
  void Stop();

 private:
  class Pool;
  std::unique_ptr<Pool> pool_;
  double timeout_s_;
  std::thread thread_;
  std::atomic<bool> ended_{false};
  std::string failure_;  // written before ended_ is set
};

}  // namespace medpipe::net
