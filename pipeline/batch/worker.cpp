#include "batch/worker.h"

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "batch/bounded_queue.h"
#include "isolation/message_channel.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/core/stopwatch.h"

namespace medpipe::cli {
namespace {

// One JSON message per event on the channel to the supervisor, whole even from several threads (an
// event longer than PIPE_BUF takes several writes). When the supervisor is gone the event is lost and
// the worker dies with it (PR_SET_PDEATHSIG).
class EventWriter {
 public:
  explicit EventWriter(int fd) : channel_(fd) {}

  void Write(const nlohmann::json& event) {
    const std::lock_guard<std::mutex> lock(mutex_);
    channel_.Send(JsonText(event, -1));
  }

 private:
  MessageChannel channel_;
  std::mutex mutex_;
};

// A study between stages, with the time each stage spent on it.
struct Job {
  size_t number = 0;
  std::unique_ptr<StudyInProgress> study;
  Stopwatch clock;
  nlohmann::json stages_ms = nlohmann::json::object();
};

// The worker's threads and the queues between them.
class StagePipeline {
 public:
  StagePipeline(const std::vector<WorkItem>& items, StudyWork& stages, const WorkerThreads& threads, EventWriter& events)
      : items_(items),
        stages_(stages),
        events_(events),
        to_load_(threads.queue_capacity),
        to_infer_(threads.queue_capacity),
        to_export_(threads.queue_capacity) {
    for (unsigned i = 0; i < threads.load; ++i) loaders_.emplace_back([this] { LoadLoop(); });
    inferer_ = std::thread([this] { InferLoop(); });
    for (unsigned i = 0; i < threads.export_; ++i) exporters_.emplace_back([this] { ExportLoop(); });
  }

  void Take(size_t number) { to_load_.Push(number); }

  // After the last Take: lets every stage drain in order, then returns.
  void Drain() {
    to_load_.Close();
    for (auto& thread : loaders_) thread.join();
    to_infer_.Close();
    inferer_.join();
    to_export_.Close();
    for (auto& thread : exporters_) thread.join();
  }

 private:
  void Done(const Job& job, const char* outcome) {
    events_.Write({{"event", "done"}, {"item", job.number}, {"outcome", outcome}, {"ms", job.stages_ms.value("total", 0.0)},
                   {"stages_ms", job.stages_ms}});
  }

  // A study that a stage threw on (disk full, permissions) is published as failed with what it has
  // written so far; the rest go on.
  void Fail(Job& job, const std::string& stage, const std::exception& error) {
    const WorkItem& item = items_[job.number];
    Failure failure = FailureOf(error);
    failure.message = stage + ": " + failure.message;
    Log(LogLevel::Error, "study " + item.uid + " (" + item.id + ") failed: " + failure.message);
    stages_.PublishFailed(item, job.study.get(), failure);
    job.study.reset();
    job.stages_ms["total"] = job.clock.Lap();
    Done(job, "failed");
  }

  void LoadLoop() {
    while (auto number = to_load_.Pop()) {
      Job job{*number, nullptr, {}, {}};
      events_.Write({{"event", "start"}, {"item", job.number}});
      Stopwatch stage;
      try {
        job.study = stages_.Load(items_[job.number]);
      } catch (const std::exception& error) {
        Fail(job, "load", error);
        continue;
      }
      job.stages_ms["load"] = stage.Lap();
      if (!job.study) {
        job.stages_ms["total"] = job.clock.Lap();
        Done(job, "skipped");
        continue;
      }
      to_infer_.Push(std::move(job));
    }
  }

  void InferLoop() {
    while (auto job = to_infer_.Pop()) {
      Stopwatch stage;
      stages_.Infer(*job->study);  // records model errors in the study; does not throw
      job->stages_ms["infer"] = stage.Lap();
      to_export_.Push(std::move(*job));
    }
  }

  void ExportLoop() {
    while (auto job = to_export_.Pop()) {
      Stopwatch stage;
      try {
        const size_t failures = stages_.Export(*job->study);
        job->stages_ms["export"] = stage.Lap();
        job->stages_ms["total"] = job->clock.Lap();
        job->study.reset();
        Done(*job, failures ? "failed" : "ok");
      } catch (const std::exception& error) {
        Fail(*job, "export", error);
      }
    }
  }

  const std::vector<WorkItem>& items_;
  StudyWork& stages_;
  EventWriter& events_;
  BoundedQueue<size_t> to_load_;
  BoundedQueue<Job> to_infer_, to_export_;
  std::vector<std::thread> loaders_, exporters_;
  std::thread inferer_;
};

}  // namespace

void RunWorker(const std::vector<WorkItem>& items, StudyWork& stages, const WorkerThreads& threads, int in_fd, int out_fd) {
  EventWriter events(out_fd);
  events.Write({{"event", "ready"}, {"settings_sha256", stages.SettingsSha256()}, {"models", stages.ModelsJson()}});
  StagePipeline pipeline(items, stages, threads, events);
  // Item numbers, one per message, until the supervisor closes its end.
  MessageChannel in(in_fd);
  std::vector<std::string> numbers;
  for (bool open = true; open;) {
    open = in.Receive(-1, numbers);
    for (const std::string& text : numbers) {
      const size_t number = std::stoul(text);
      if (number < items.size()) pipeline.Take(number);
    }
    numbers.clear();
  }
  pipeline.Drain();
}

}  // namespace medpipe::cli
