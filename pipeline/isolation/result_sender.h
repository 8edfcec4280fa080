#pragma once
// run --send HOST:PORT:AET: each study's DICOM objects (SEG, RTSTRUCT, SR: the .dcm files of its
// folder) are stored on the PACS once the study is published, or found complete from an earlier run,
// by a process of its own: the batch never waits for the network, a crash in the network code costs
// the sending alone, and the run process keeps no thread that a later fork (a replacement worker)
// could copy mid-lock. OUT/sent.jsonl (one per shard) records what was sent where: a rerun sends
// what failed, was never sent or has changed since, and nothing twice.
#include <sys/types.h>

#include <filesystem>
#include <string>

#include "isolation/child_process.h"
#include "isolation/message_channel.h"
#include "medpipe/net/peer.h"

namespace medpipe::cli {

class ResultSender {
 public:
  // Study folders in STUDIES_DIR; the ledger is LEDGER (its folder's sent*.jsonl are all read).
  // REVIEWED_ONLY: only studies accepted in review.jsonl beside STUDIES_DIR, their SR verified
  // (review::AcceptedObjects). Starts the sending process.
  ResultSender(const net::Peer& peer, const net::NetSettings& settings, const std::filesystem::path& studies_dir,
               const std::filesystem::path& ledger, bool reviewed_only = false);
  ~ResultSender();  // Finish()

  // Queues the study STUDY_ID for sending (nothing happens when it was sent as it is now); never blocks.
  void Send(const std::string& study_id);
  // Waits until every queued study is sent or has failed; returns how many failed (all that were
  // queued, at least one, when the sending process died).
  size_t Finish();

 private:
  ChildProcess child_;     // the sending process
  MessageChannel queue_;   // study ids, one a message, to the sending process; non-blocking
  MessageChannel result_;  // how many failed, one message in decimal, from the sending process
  size_t queued_ = 0;
  size_t failed_ = 0;
};

}  // namespace medpipe::cli
