#pragma once
// How far a run is, for people and schedulers: a live OUT/status.json (done, failed, skipped,
// pending, rate, ETA), JSON-lines events (--progress-json FILE), and a progress bar on a terminal.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "batch/work_list.h"

namespace medpipe::cli {

enum class Outcome { Ok, Failed, Skipped };

class BatchProgress {
 public:
  // STATUS_FILE is rewritten atomically after every study; EVENTS_FILE, when given, gets one JSON
  // object per line: "start", one "study" per work item, "end". INDEX_SECONDS: how long the header
  // pass over the archive took before the first study (status.json's "index_s").
  BatchProgress(std::filesystem::path status_file, size_t total, double index_seconds,
                const std::optional<std::filesystem::path>& events_file);

  // STAGES_MS: the time each stage (load, infer, export) spent on the study, summed into the busy
  // fractions of status.json.
  void Record(const WorkItem& item, Outcome outcome, double milliseconds, const nlohmann::json& stages_ms);
  // What runs now, as status.json's "running": the worker's pid and the studies in flight.
  void Running(nlohmann::json running);
  // STATE: "finished", or "stopped" when a signal or --fail-fast ended the run early.
  void Finish(const std::string& state);

  size_t Failed() const { return failed_; }

 private:
  nlohmann::json Status(const std::string& state) const;
  void Emit(const nlohmann::json& event);
  void DrawBar() const;

  std::filesystem::path status_file_;
  std::ofstream events_;
  size_t total_, done_ = 0, failed_ = 0, skipped_ = 0;
  double index_seconds_;
  std::map<std::string, double> stage_busy_ms_;
  nlohmann::json running_ = nlohmann::json::object();
  std::string started_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool terminal_;
};

}  // namespace medpipe::cli
