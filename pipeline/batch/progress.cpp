#include "batch/progress.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"

namespace medpipe::cli {

BatchProgress::BatchProgress(std::filesystem::path status_file, size_t total, double index_seconds,
                             const std::optional<std::filesystem::path>& events_file)
    : status_file_(std::move(status_file)),
      total_(total),
      index_seconds_(index_seconds),
      started_(UtcTimestamp()),
      terminal_(isatty(STDERR_FILENO)) {
  if (events_file) {
    events_.open(*events_file, std::ios::app);
    if (!events_) throw IoError(events_file->string(), "cannot be opened for progress events");
  }
  Emit({{"event", "start"}, {"total", total_}});
  WriteFileAtomically(status_file_, JsonText(Status("running")) + "\n");
}

nlohmann::json BatchProgress::Status(const std::string& state) const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const size_t processed = done_ + failed_;
  const size_t pending = total_ - processed - skipped_;
  // Skipped (already complete) studies cost only their digest, so the rate counts processed ones.
  const double rate = seconds > 0 ? static_cast<double>(processed) / seconds : 0;
  nlohmann::json status = {{"state", state},          {"started", started_},  {"updated", UtcTimestamp()},
                           {"total", total_},         {"done", done_},        {"failed", failed_},
                           {"skipped", skipped_},     {"pending", pending},   {"elapsed_s", seconds},
                           {"studies_per_hour", rate * 3600}, {"index_s", index_seconds_}};
  status["eta_s"] = rate > 0 ? nlohmann::json(static_cast<double>(pending) / rate) : nlohmann::json(nullptr);
  // How busy each stage kept its threads: "infer" near 1 means the device never waited for input.
  for (const auto& [stage, ms] : stage_busy_ms_) status["stage_busy_fraction"][stage] = seconds > 0 ? ms / 1000 / seconds : 0;
  if (state == "running") {
    status["running"] = running_;
    return status;
  }
  // Processor time of this process and its workers (counted once they ended) over every core's wall time.
  rusage self{}, children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  const auto cpu_s = [](const rusage& usage) {
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  status["cpu_s"] = cpu_s(self) + cpu_s(children);
  status["cpu_busy_fraction"] = seconds > 0 ? status["cpu_s"].get<double>() / seconds / UsableCores() : 0;
  status["worker_peak_rss_mib"] = children.ru_maxrss / 1024.0;  // the largest worker's; bounded by --max-inflight
  return status;
}

void BatchProgress::Record(const WorkItem& item, Outcome outcome, double milliseconds, const nlohmann::json& stages_ms) {
  for (const auto& [stage, ms] : stages_ms.items())
    if (stage != "total") stage_busy_ms_[stage] += ms.get<double>();
  const char* name = outcome == Outcome::Ok ? "ok" : outcome == Outcome::Failed ? "failed" : "skipped";
  (outcome == Outcome::Ok ? done_ : outcome == Outcome::Failed ? failed_ : skipped_)++;
  Emit({{"event", "study"}, {"study_id", item.id}, {"study_instance_uid", item.uid}, {"status", name},
        {"ms", milliseconds}});
  WriteFileAtomically(status_file_, JsonText(Status("running")) + "\n");
  DrawBar();
}

void BatchProgress::Running(nlohmann::json running) {
  running_ = std::move(running);
  WriteFileAtomically(status_file_, JsonText(Status("running")) + "\n");
}

void BatchProgress::Finish(const std::string& state) {
  const auto status = Status(state);
  WriteFileAtomically(status_file_, JsonText(status) + "\n");
  Emit({{"event", "end"}, {"state", state}, {"done", done_}, {"failed", failed_}, {"skipped", skipped_},
        {"pending", status["pending"]}, {"elapsed_s", status["elapsed_s"]}});
  if (terminal_) std::cerr << "\n";
  char summary[200];
  std::snprintf(summary, sizeof summary, "run %s: %zu done, %zu failed, %zu skipped (complete), %zu pending, %.1f s",
                state.c_str(), done_, failed_, skipped_, status["pending"].get<size_t>(), status["elapsed_s"].get<double>());
  Log(failed_ ? LogLevel::Warning : LogLevel::Info, summary);
}

void BatchProgress::Emit(const nlohmann::json& event) {
  if (!events_.is_open()) return;
  nlohmann::json line = event;
  line["time"] = UtcTimestamp();
  events_ << JsonText(line, -1) << std::endl;  // flushed: a scheduler tails this file
}

void BatchProgress::DrawBar() const {
  if (!terminal_) return;
  const auto status = Status("running");
  const size_t finished = done_ + failed_ + skipped_;
  constexpr int kWidth = 30;
  const int filled = total_ ? static_cast<int>(kWidth * finished / total_) : kWidth;
  const auto eta = status["eta_s"].is_null() ? std::string("?") : std::to_string(std::lround(status["eta_s"].get<double>())) + " s";
  std::fprintf(stderr, "\r[%s%s] %zu/%zu studies, %zu failed, %.2f studies/s, ETA %s   ", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), finished, total_, failed_,
               status["studies_per_hour"].get<double>() / 3600, eta.c_str());
}

}  // namespace medpipe::cli
