#pragma once
// run --send HOST:PORT:AET: each study's DICOM objects (SEG, RTSTRUCT, SR: the .dcm files of its
// folder) are stored on the PACS once the study is published, or found complete from an earlier run,
// on a thread of their own so the batch never waits for the network. OUT/sent.jsonl (one per shard)
// records what was sent where: a rerun sends what failed, was never sent or has changed since, and
// nothing twice.
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "medpipe/net/peer.h"

namespace medpipe::cli {

class ResultSender {
 public:
  // Study folders in STUDIES_DIR; the ledger is LEDGER (its folder's sent*.jsonl are all read).
  ResultSender(net::Peer peer, net::NetSettings settings, std::filesystem::path studies_dir, std::filesystem::path ledger);
  ~ResultSender();  // Finish()

  // Queues the study STUDY_ID for sending (nothing happens when it was sent as it is now).
  void Send(const std::string& study_id);
  // Waits until every queued study is sent or has failed; returns how many failed.
  size_t Finish();

 private:
  void SendLoop();
  void SendStudy(const std::string& study_id);

  net::Peer peer_;
  net::NetSettings settings_;
  std::filesystem::path studies_dir_;
  std::filesystem::path ledger_;
  std::set<std::string> sent_;  // "<study id> <sha256 of its objects>" sent to this destination
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<std::string> queue_;
  bool finishing_ = false;
  size_t failed_ = 0;
  std::thread thread_;
};

}  // namespace medpipe::cli
