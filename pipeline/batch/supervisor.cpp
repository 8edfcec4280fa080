#include "batch/supervisor.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "batch/stop_signal.h"
#include "isolation/child_process.h"
#include "isolation/exit_codes.h"
#include "isolation/message_channel.h"
#include "medpipe/core/deidentification.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/files.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace medpipe::cli {
namespace {

// The worker: a forked child with a pipe for item numbers in and one for events out.
class WorkerProcess {
 public:
  explicit WorkerProcess(const WorkerMain& main) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw IoError("pipe", std::strerror(errno));
    child_ = ChildProcess::Fork();  // the worker never outlives a kill -9 of the run
    if (child_.InChild()) {
      std::signal(SIGINT, SIG_IGN);  // stopping is the supervisor's decision: it closes the input
      std::signal(SIGTERM, SIG_IGN);
      ::close(to_child[1]);
      ::close(from_child[0]);
      int code = kExitCannotStart;
      try {
        code = main(to_child[0], from_child[1]);
      } catch (const std::exception& error) {  // WorkerMain reports its own errors; this is a last resort
        std::cerr << "medpipe: the worker failed: " << error.what() << "\n";
      }
      std::cerr.flush();
      ::_exit(code);  // no static destructors or atexit handlers of the parent's libraries
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_worker_ = MessageChannel(to_child[1]);
    from_worker_ = MessageChannel(from_child[0]);
  }

  ~WorkerProcess() {
    CloseInput();
    from_worker_.Close();
    if (child_.Running()) {
      child_.Kill();
      Wait();
    }
  }

  pid_t Pid() const { return child_.Pid(); }

  bool Send(size_t number) {
    return to_worker_.Send(std::to_string(number));
  }

  // The worker finishes what it has and exits.
  void CloseInput() {
    to_worker_.Close();
  }

  // Waits up to TIMEOUT_MS for events and appends them; false once the worker has closed its end
  // (it exited or died).
  bool Read(int timeout_ms, std::vector<nlohmann::json>& events) {
    std::vector<std::string> messages;
    const bool open = from_worker_.Receive(timeout_ms, messages);
    for (const auto& message : messages) events.push_back(nlohmann::json::parse(message));
    return open;
  }

  void Kill() { child_.Kill(); }

  // Resident memory now, in GiB; 0 when it cannot be read.
  double ResidentGib() const { return static_cast<double>(MemoryOf(std::to_string(child_.Pid())).resident) / (1 << 30); }

  // Reaps the worker; returns how it ended: empty for exit code 0.
  std::string Wait() {
    const ChildExit ended = child_.Wait();
    exit_code_ = ended.Exited() ? ended.ExitCode() : kExitCannotStart;
    if (exit_code_ == kFailPointExitCode) ::_exit(kFailPointExitCode);  // the whole run stops at that step
    return ended.Describe();
  }

  int ExitCode() const { return exit_code_; }

 private:
  ChildProcess child_;
  MessageChannel to_worker_;    // item numbers, one a message
  MessageChannel from_worker_;  // events, JSON messages (worker.cpp)
  int exit_code_ = 0;
};

// A study handed to the worker, and when a load thread took it.
struct InFlight {
  std::optional<Clock::time_point> started;
  std::string started_utc;
};

class Supervisor {
 public:
  Supervisor(const std::vector<WorkItem>& items, const WorkerMain& main, const SupervisorOptions& options,
             const ResultStore& store, BatchProgress& progress, const StudyRecorded& on_recorded)
      : items_(items), main_(main), options_(options), store_(store), progress_(progress), on_recorded_(on_recorded) {
    for (size_t i = 0; i < items.size(); ++i) pending_.push_back(i);
  }

  SupervisedRun Run() {
    std::signal(SIGPIPE, SIG_IGN);  // a dead worker's pipe is noticed as such, not as a signal
    if (!StartWorker()) return {worker_->ExitCode() ? worker_->ExitCode() : kExitCannotStart, false, false};
    bool draining = false;
    while (true) {
      if (!draining && (StopRequested() || failed_fast_)) {
        draining = true;
        Log(LogLevel::Warning, std::string(failed_fast_ ? "--fail-fast" : "stop requested") +
                                   ": no new studies are started; waiting for the " + std::to_string(in_flight_.size()) +
                                   " in flight");
      }
      if (!draining) Dispatch();
      if (draining || pending_.empty()) worker_->CloseInput();
      if (in_flight_.empty() && (draining || pending_.empty())) break;
      std::vector<nlohmann::json> events;
      const bool alive = worker_->Read(WaitMs(), events);
      for (const auto& event : events) Handle(event);
      if (!alive) {
        if (in_flight_.empty() && (draining || pending_.empty())) break;
        if (!Replace(worker_->Wait())) return {0, true, true};
        continue;
      }
      if (!CheckTimeouts() || !CheckMemory()) return {0, true, true};
    }
    const std::string how = worker_->Wait();
    if (!how.empty()) Log(LogLevel::Warning, "worker " + std::to_string(worker_->Pid()) + " ended: " + how);
    return {0, draining && !pending_.empty(), false};
  }

 private:
  bool StartWorker() {
    worker_.reset();
    worker_ = std::make_unique<WorkerProcess>(main_);
    while (true) {
      std::vector<nlohmann::json> events;
      if (!worker_->Read(1000, events)) {
        Log(LogLevel::Error, "worker " + std::to_string(worker_->Pid()) + " did not start: " + worker_->Wait());
        return false;
      }
      for (const auto& event : events) {
        if (event.at("event") != "ready") continue;
        settings_sha256_ = event.at("settings_sha256");
        models_ = event.at("models");
        Log(LogLevel::Info, "worker " + std::to_string(worker_->Pid()) + " ready");
        ShowRunning();
        return true;
      }
    }
  }

  // Hands out studies up to --max-inflight; a suspect of an earlier crash runs alone.
  void Dispatch() {
    while (in_flight_.size() < options_.max_inflight && !pending_.empty()) {
      const size_t next = pending_.front();
      const bool alone = suspects_.count(next) > 0;
      if (alone && !in_flight_.empty()) return;
      for (const auto& [number, flight] : in_flight_)
        if (suspects_.count(number)) return;
      if (!worker_->Send(next)) return;  // the worker died; Read notices
      pending_.pop_front();
      in_flight_[next] = {};
    }
  }

  void Handle(const nlohmann::json& event) {
    const size_t number = event.at("item");
    if (!in_flight_.count(number)) return;
    if (event.at("event") == "start") {
      in_flight_[number].started = Clock::now();
      in_flight_[number].started_utc = UtcTimestamp();
      ShowRunning();
      return;
    }
    const std::string outcome = event.at("outcome");
    Record(number, outcome == "ok" ? Outcome::Ok : outcome == "skipped" ? Outcome::Skipped : Outcome::Failed,
           event.at("ms"), event.at("stages_ms"));
  }

  void Record(size_t number, Outcome outcome, double ms, const nlohmann::json& stages_ms) {
    in_flight_.erase(number);
    suspects_.erase(number);
    deaths_in_a_row_ = 0;
    ShowRunning();
    progress_.Record(items_[number], outcome, ms, stages_ms);
    on_recorded_(items_[number], outcome);
    if (outcome == Outcome::Failed && options_.fail_fast) failed_fast_ = true;
  }

  // status.json's view of the worker and of the studies it has started.
  void ShowRunning() {
    nlohmann::json studies = nlohmann::json::array();
    for (const auto& [number, flight] : in_flight_)
      if (flight.started)
        studies.push_back(
            {{"study_id", items_[number].id}, {"study_instance_uid", items_[number].uid}, {"started", flight.started_utc}});
    progress_.Running({{"worker_pid", worker_->Pid()}, {"in_flight", studies}});
  }

  // Poll often enough to notice stop signals and the next study that may run past its time.
  int WaitMs() const {
    double wait_ms = 1000;
    if (options_.study_timeout_s <= 0) return static_cast<int>(wait_ms);
    const auto now = Clock::now();
    for (const auto& [number, flight] : in_flight_)
      if (flight.started) {
        const double left = options_.study_timeout_s * 1000 -
                            std::chrono::duration<double, std::milli>(now - *flight.started).count();
        wait_ms = std::min(wait_ms, std::max(left, 0.0) + 10);
      }
    return static_cast<int>(wait_ms);
  }

  // Kills the worker when a study ran past --study-timeout; false when no new worker starts.
  bool CheckTimeouts() {
    if (options_.study_timeout_s <= 0) return true;
    const auto now = Clock::now();
    for (const auto& [number, flight] : in_flight_)
      if (flight.started && std::chrono::duration<double>(now - *flight.started).count() > options_.study_timeout_s) {
        const size_t overdue = number;
        worker_->Kill();
        return Replace(worker_->Wait(), overdue);
      }
    return true;
  }

  // Kills the worker when its resident memory passed --max-worker-gib (a hostile file can make a
  // library allocate gigabytes); its study fails as a crash would. False when no new worker starts.
  bool CheckMemory() {
    if (options_.max_worker_gib <= 0) return true;
    const double gib = worker_->ResidentGib();
    if (gib <= options_.max_worker_gib) return true;
    worker_->Kill();
    worker_->Wait();
    std::ostringstream how;
    how << "its resident memory reached " << gib << " GiB, over --max-worker-gib " << options_.max_worker_gib;
    return Replace(how.str());
  }

  // After the worker ended with studies in flight: the overdue study, or the only one started, is
  // failed; the others go back to the front of the queue. Several started when it died: each of them
  // runs alone until the culprit is found. Returns false when no new worker starts.
  bool Replace(const std::string& how, std::optional<size_t> overdue = {}) {
    std::vector<size_t> started;
    std::set<std::string> ids;
    for (const auto& [number, flight] : in_flight_) {
      if (flight.started) started.push_back(number);
      ids.insert(items_[number].id);
    }
    RemoveStaleStaging(store_.StudiesDir(), ids);  // the dead worker's half-written folders
    std::optional<size_t> culprit = overdue;
    Failure failure;
    if (overdue) {
      std::ostringstream reason;
      reason << "ran longer than --study-timeout (" << options_.study_timeout_s << " s); its worker was killed";
      failure = {"", ErrorKind::Config, "--study-timeout", reason.str()};
    } else if (started.size() == 1) {
      culprit = started.front();
      failure = {"", ErrorKind::Internal, items_[*culprit].uid,
                 "the worker process died while processing this study: " + how};
    } else if (started.size() > 1) {
      Log(LogLevel::Warning, "worker " + std::to_string(worker_->Pid()) + " died (" + how + ") with " +
                                 std::to_string(started.size()) + " studies in flight; each runs again alone");
      suspects_.insert(started.begin(), started.end());
    }
    for (auto it = in_flight_.rbegin(); it != in_flight_.rend(); ++it)
      if (it->first != culprit) pending_.push_front(it->first);
    if (culprit) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - *in_flight_[*culprit].started).count();
      Fail(*culprit, failure, ms);
    } else if (++deaths_in_a_row_ > 3) {
      Log(LogLevel::Error, "workers keep dying without taking a study; giving up");
      return false;
    }
    in_flight_.clear();
    return StartWorker();
  }

  // Records a study the worker could not finish, with a result.json saying why.
  void Fail(size_t number, const Failure& failure, double ms) {
    const WorkItem& item = items_[number];
    Log(LogLevel::Error, "study " + item.uid + " (" + item.id + ") failed: " + failure.message);
    StudyResult result = FailedStudyResult(item, settings_sha256_, models_, failure);
    if (options_.deidentify) Deidentify(result);
    PublishFailedResult(store_, item, result);
    Record(number, Outcome::Failed, ms, nlohmann::json::object());
  }

  const std::vector<WorkItem>& items_;
  const WorkerMain& main_;
  const SupervisorOptions options_;
  const ResultStore& store_;
  BatchProgress& progress_;
  const StudyRecorded& on_recorded_;
  std::unique_ptr<WorkerProcess> worker_;
  std::string settings_sha256_;
  nlohmann::json models_;
  std::deque<size_t> pending_;
  std::map<size_t, InFlight> in_flight_;
  std::set<size_t> suspects_;
  size_t deaths_in_a_row_ = 0;
  bool failed_fast_ = false;
};

}  // namespace

SupervisedRun Supervise(const std::vector<WorkItem>& items, const WorkerMain& worker_main, const SupervisorOptions& options,
                        const ResultStore& store, BatchProgress& progress, const StudyRecorded& on_recorded) {
  return Supervisor(items, worker_main, options, store, progress, on_recorded).Run();
}

}  // namespace medpipe::cli
