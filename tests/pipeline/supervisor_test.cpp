// The supervisor and the worker's step threads with fake study work (no LibTorch, no models, no
// medpipe binary): every study gets its outcome and a result.json, a study whose step throws fails
// alone, and a worker that crashes costs only the study it was exporting; a new worker does the rest.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "batch/progress.h"
#include "batch/resume.h"
#include "batch/supervisor.h"
#include "batch/worker.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "test_support.h"

namespace medpipe::cli {
namespace {

namespace fs = std::filesystem;

const std::string kSettings(64, '0');

struct FakeStudy : StudyInProgress {
  const WorkItem* item = nullptr;
};

// Studies named "throws" fail in Load, "fails" report one failure, "crashes" abort the worker in
// Export; the others publish an ok result.
class FakeWork : public StudyWork {
 public:
  explicit FakeWork(const ResultStore& store) : store_(store) {}
  std::string SettingsSha256() const override { return kSettings; }
  nlohmann::json ModelsJson() const override { return nlohmann::json::array(); }
  std::unique_ptr<StudyInProgress> Load(const WorkItem& item) override {
    if (item.uid == "throws") throw IoError(item.uid, "cannot be read");
    auto study = std::make_unique<FakeStudy>();
    study->item = &item;
    return study;
  }
  void Infer(StudyInProgress&) const override {}
  size_t Export(StudyInProgress& in_progress) const override {
    const WorkItem& item = *static_cast<FakeStudy&>(in_progress).item;
    if (item.uid == "crashes") std::abort();
    const size_t failures = item.uid == "fails" ? 1 : 0;
    const auto folder = store_.Stage(item.id);
    StudyResult result = NewStudyResult(item, SourceJson(item), kSettings, ModelsJson());
    result.ok = failures == 0;
    result.json["timings_ms"]["total"] = 1;
    store_.Publish(*folder, result);
    return failures;
  }
  void PublishFailed(const WorkItem& item, StudyInProgress*, const Failure& failure) const override {
    PublishFailedResult(store_, item, FailedStudyResult(item, kSettings, ModelsJson(), failure));
  }

 private:
  const ResultStore& store_;
};

class SupervisorWithFakeWork : public testing::TempDirTest {};

TEST_F(SupervisorWithFakeWork, EveryStudyGetsItsOutcomeAndAResultWhateverItsStepsDo) {
  const std::vector<std::string> names = {"ok-1", "throws", "ok-2", "fails", "crashes", "ok-3", "ok-4"};
  std::vector<WorkItem> items;
  for (size_t i = 0; i < names.size(); ++i) {
    WorkItem item;
    item.id = "00000000000000" + std::string(1, "0123456789abcdef"[i]) + "0";
    item.uid = names[i];
    item.nifti = dir_ / (names[i] + ".nii.gz");
    items.push_back(item);
  }
  fs::create_directories(dir_ / "out" / "studies");
  const ResultStore store(dir_ / "out", "manifest.jsonl");
  BatchProgress progress(dir_ / "out" / "status.json", items.size(), 0, std::nullopt);
  const WorkerMain worker = [&](int in_fd, int out_fd) {
    FakeWork work(store);
    RunWorker(items, work, {1, 1, 2}, in_fd, out_fd);
    return 0;
  };
  std::map<std::string, Outcome> outcomes;
  std::mutex mutex;
  const StudyRecorded recorded = [&](const WorkItem& item, Outcome outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    outcomes[item.uid] = outcome;
  };
  const SupervisedRun run = Supervise(items, worker, {2, 0, false, 0}, store, progress, recorded);

  EXPECT_EQ(run.start_failure, 0);
  EXPECT_FALSE(run.stopped);
  EXPECT_FALSE(run.workers_lost);
  ASSERT_EQ(outcomes.size(), items.size());
  for (const auto& item : items) {
    const bool ok = item.uid.rfind("ok-", 0) == 0;
    EXPECT_EQ(outcomes[item.uid], ok ? Outcome::Ok : Outcome::Failed) << item.uid;
    const auto result = nlohmann::json::parse(ReadFile(store.StudiesDir() / item.id / "result.json"));
    EXPECT_EQ(result["status"], ok ? "ok" : "failed") << item.uid;
    testing::ExpectValidResult(store.StudiesDir() / item.id / "result.json");
  }
  const auto result_of = [&](size_t i) { return nlohmann::json::parse(ReadFile(store.StudiesDir() / items[i].id / "result.json")); };
  // A step that threw and a worker that died: the sentence for people, the failure record for programs.
  const auto thrown = result_of(1);
  EXPECT_NE(thrown.value("error", "").find("load: throws: cannot be read"), std::string::npos) << thrown;
  EXPECT_EQ(thrown["failure"]["kind"], "io") << thrown;
  EXPECT_EQ(thrown["failure"]["where"], "throws") << thrown;
  EXPECT_EQ(thrown["failure"]["message"], thrown["error"]) << thrown;
  const auto crashed = result_of(4);
  EXPECT_NE(crashed.value("error", "").find("signal 6"), std::string::npos) << crashed;
  EXPECT_EQ(crashed["failure"]["kind"], "internal") << crashed;
  EXPECT_EQ(crashed["failure"]["where"], "crashes") << crashed;
}

}  // namespace
}  // namespace medpipe::cli
