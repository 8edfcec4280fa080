#pragma once
// `medpipe listen` receives in a child process of its own: DCMTK parses whatever a network peer sends
// there, and Debian's 3.6.7 leaks memory on some association requests (CVE-2026-50254: about 210 KB
// per crafted request) or may crash on others. The listener replaces that process when it ends or
// its resident memory passes a limit; the inbox, the studies waiting and the pipeline runs go on.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "isolation/child_process.h"
#include "isolation/message_channel.h"
#include "medpipe/net/storage_server.h"

namespace medpipe::cli {

class ReceiverProcess {
 public:
  // Receives as SETTINGS say into the inbox at INBOX_ROOT; replaced past MAX_RESIDENT_BYTES.
  ReceiverProcess(net::ServerSettings settings, std::filesystem::path inbox_root, uint64_t max_resident_bytes);
  ~ReceiverProcess();  // Stop()

  // Forks the receiving process and waits until it listens; throws NetworkError when it cannot
  // (the port in use, say). Call while this process has no other thread.
  void Start();
  // The study ids of the objects filed since the last call (one per object). Replaces the receiving
  // process when it has ended or grown past the limit, saying why in the log.
  std::vector<std::string> Poll();
  // Asks the receiving process to finish its associations and end (SIGTERM); kills it after a while.
  void Stop();
  size_t Filed() const { return filed_; }

 private:
  std::vector<std::string> ReadEvents();
  void Restart(const std::string& why);

  net::ServerSettings settings_;
  std::filesystem::path inbox_root_;
  uint64_t max_resident_bytes_;
  ChildProcess child_;  // the receiving process
  MessageChannel events_;  // messages from the child: "ready", "filed <study-id>", "error <text>"
  std::string error_;
  bool ready_ = false;
  std::chrono::steady_clock::time_point started_;
  size_t filed_ = 0;
};

}  // namespace medpipe::cli
