// `medpipe run` as a night batch: resume by digest, kill -9 at random moments, SIGTERM, shards,
// study lists, dry runs, status and progress files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "cli_support.h"
#include "image_support.h"
#include "inference/test_models.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/synth/synthetic_study.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;
using testing::Medpipe;
using testing::ReadJson;

constexpr int kStudies = 16;

class Batch : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    testing::WriteSmallCtStudies(dir_ / "archive", kStudies, "s", 100);
    // Small patches make each study take long enough to be caught in flight.
    testing::WritePackage(dir_ / "models" / "band", testing::LesionBandModel(), testing::SegmentationManifest("band", 2, 8));
  }

  std::string Args(const std::string& extra = "", const std::string& out = "out") const {
    return "run " + (dir_ / "archive").string() + " " + (dir_ / out).string() + " --model " +
           (dir_ / "models" / "band").string() + " --device cpu --output-types nifti " + extra;
  }

  // Adds a NIfTI "study" of constant 1000 HU (listed after the DICOM studies) and makes "band" a model
  // that hangs on it; returns its study id.
  std::string AddHangingStudy() const {
    testing::WritePackage(dir_ / "models" / "band", testing::HangOnConstantModel(), testing::SegmentationManifest("band", 2, 8));
    return AddNiftiStudy("hang", 12, 1000);
  }

  // Adds archive/NAME/NAME.nii.gz, SIZE x SIZE x (SLICES or SIZE) voxels of VALUE; returns its study id.
  std::string AddNiftiStudy(const std::string& name, itk::SizeValueType size, float value,
                            itk::SizeValueType slices = 0) const {
    const auto image = MakeImage({{size, size, slices ? slices : size}}, testing::Spacing(1, 1, 1), testing::Point(0, 0, 0),
                                 testing::Identity());
    image->FillBuffer(value);
    fs::create_directories(dir_ / "archive" / name);
    WriteNifti(Volume{{image}}, dir_ / "archive" / name / (name + ".nii.gz"));
    return ShortId(fs::absolute(dir_ / "archive" / name / (name + ".nii.gz")).lexically_normal().string());
  }

  // Runs the batch with EXTRA and checks that every study is done but STUDY, which failed alone with
  // an error saying REASON. Returns what the run printed.
  std::string RunExpectingOnlyFailure(const std::string& extra, const std::string& study, const std::string& reason) const {
    const auto run = Medpipe(Args(extra), dir_ / "log");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_EQ(Status()["done"], kStudies);
    EXPECT_EQ(Status()["failed"], 1);
    const auto result = ReadJson(dir_ / "out" / "studies" / study / "result.json");
    EXPECT_EQ(result["status"], "failed");
    EXPECT_NE(result["error"].get<std::string>().find(reason), std::string::npos) << result.dump(2);
    testing::ExpectValidResult(dir_ / "out" / "studies" / study / "result.json");
    return run.output;
  }

  // Waits until status.json satisfies CONDITION (at most a minute).
  nlohmann::json WaitForStatus(const std::function<bool(const nlohmann::json&)>& condition) const {
    for (int i = 0; i < 3000; ++i) {
      usleep(20000);
      if (!fs::exists(dir_ / "out" / "status.json")) continue;
      const auto status = Status();
      if (condition(status)) return status;
    }
    ADD_FAILURE() << "status.json never got there: " << Status().dump(2);
    return Status();
  }

  // StudyInstanceUID -> number of complete result folders holding it; fails on any leftover staging.
  std::map<std::string, int> CompleteResults() const {
    std::map<std::string, int> results;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
      const std::string name = entry.path().filename().string();
      EXPECT_NE(name.front(), '.') << "staging left behind: " << name;
      if (name.front() == '.') continue;
      const auto result = ReadJson(entry.path() / "result.json");
      EXPECT_EQ(result["status"], "ok") << name;
      EXPECT_EQ(result["study_id"], name);
      ++results[result["study_instance_uid"].get<std::string>()];
    }
    return results;
  }

  nlohmann::json Status(const std::string& name = "status.json") const { return ReadJson(dir_ / "out" / name); }

  // The studies in the worker, as status.json lists them while running (none before the worker is up).
  static nlohmann::json InFlight(const nlohmann::json& status) {
    return status.value("/running/in_flight"_json_pointer, nlohmann::json::array());
  }

  // Starts a run in a child process (its output to LOG); returns its pid.
  pid_t Start(const std::vector<std::string>& extra = {}, const std::string& log = "/dev/null") const {
    const std::string archive = (dir_ / "archive").string(), out = (dir_ / "out").string();
    const std::string model = (dir_ / "models" / "band").string();
    std::vector<std::string> args = {MEDPIPE_BINARY, "run", archive, out, "--model", model, "--device", "cpu",
                                      "--output-types", "nifti", "--overlap", "0.8"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::StartProcess(args, log);
  }
};

TEST_F(Batch, RerunSkipsCompleteStudiesAndRedoesChangedOnes) {
  ASSERT_EQ(Medpipe(Args(), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["done"], kStudies);
  const auto first = CompleteResults();
  ASSERT_EQ(first.size(), static_cast<size_t>(kStudies));
  testing::ExpectValidResult(fs::directory_iterator(dir_ / "out" / "studies")->path() / "result.json");

  const auto rerun = Medpipe(Args(), dir_ / "log");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(Status()["skipped"], kStudies);
  EXPECT_EQ(Status()["done"], 0);

  // One input file changes (a copy's byte: inputs are never written by medpipe): only its study reruns.
  const fs::path changed = dir_ / "archive" / "s3" / "ct" / "slice_0001.dcm";
  std::string bytes = ReadFile(changed);
  bytes.back() ^= 1;
  std::ofstream(changed, std::ios::binary | std::ios::trunc) << bytes;
  ASSERT_EQ(Medpipe(Args(), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["done"], 1);
  EXPECT_EQ(Status()["skipped"], kStudies - 1);

  // Other settings (here: test-time augmentation) redo every study, and so does --force.
  ASSERT_EQ(Medpipe(Args("--tta"), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["done"], kStudies);
  ASSERT_EQ(Medpipe(Args("--tta --force"), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["done"], kStudies);
  EXPECT_EQ(CompleteResults(), first);  // still one result per study
}

TEST_F(Batch, KillNineAtRandomMomentsLosesAndDuplicatesNothing) {
  for (const unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
    // A random moment measured in progress, not in time, so it lands inside the run on any machine:
    // after K finished studies, plus up to 100 ms into the next one.
    std::mt19937 random(seed);
    const int after_studies = std::uniform_int_distribution<int>(0, kStudies - 2)(random);
    const int extra_ms = std::uniform_int_distribution<int>(0, 100)(random);
    const pid_t child = Start();
    for (int i = 0; i < 6000; ++i) {
      usleep(5000);
      if (fs::exists(dir_ / "out" / "status.json") && Status()["done"].get<int>() >= after_studies) break;
    }
    usleep(extra_ms * 1000);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "seed " << seed << ": the run ended before the kill";
    const auto rerun = Medpipe(Args("--overlap 0.8"), dir_ / "log");
    ASSERT_EQ(rerun.exit_code, 0) << "seed " << seed << ": " << rerun.output;
    EXPECT_GE(Status()["skipped"].get<int>(), after_studies) << "seed " << seed << ": finished studies were redone";
    const auto results = CompleteResults();
    EXPECT_EQ(results.size(), static_cast<size_t>(kStudies)) << "seed " << seed;
    for (const auto& [uid, count] : results) EXPECT_EQ(count, 1) << uid;
    fs::remove_all(dir_ / "out");
  }
}

TEST_F(Batch, SigtermFinishesTheStudyInFlightAndExitsWithFour) {
  const pid_t child = Start({"--progress-json", (dir_ / "events.jsonl").string()});
  // Wait for the first finished study, then ask it to stop.
  for (int i = 0; i < 400; ++i) {
    usleep(20000);
    if (fs::exists(dir_ / "out" / "status.json") && Status()["done"].get<int>() > 0) break;
  }
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 4);
  const auto stopped = Status();
  EXPECT_EQ(stopped["state"], "stopped");
  EXPECT_GT(stopped["pending"].get<int>(), 0);
  EXPECT_EQ(CompleteResults().size(), stopped["done"].get<size_t>());
  // The events file ends with the "end" event of the stopped run.
  std::ifstream events(dir_ / "events.jsonl");
  std::string line, last;
  while (std::getline(events, line)) last = line;
  EXPECT_EQ(nlohmann::json::parse(last)["state"], "stopped");
  // A rerun with the same settings finishes the rest.
  ASSERT_EQ(Medpipe(Args("--overlap 0.8"), dir_ / "log").exit_code, 0);
  EXPECT_EQ(CompleteResults().size(), static_cast<size_t>(kStudies));
  EXPECT_EQ(Status()["skipped"], stopped["done"]);
}

TEST_F(Batch, ShardsCoverTheArchiveExactlyOnce) {
  int done = 0;
  for (int shard = 0; shard < 3; ++shard) {
    const auto run = Medpipe(Args("--shard " + std::to_string(shard) + "/3"), dir_ / "log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    done += Status("status-" + std::to_string(shard) + "-of-3.json")["done"].get<int>();
  }
  EXPECT_EQ(done, kStudies);
  const auto sharded = CompleteResults();
  EXPECT_EQ(sharded.size(), static_cast<size_t>(kStudies));
  // `medpipe report` merges what the shards wrote: every study is in results.csv.
  const auto report = Medpipe("report " + (dir_ / "out").string(), dir_ / "log");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string csv = ReadFile(dir_ / "out" / "results.csv");
  for (const auto& [uid, count] : sharded) EXPECT_NE(csv.find(uid), std::string::npos) << uid;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "report.html"));
  // Together the shards did what one process does: a plain rerun finds every study complete.
  ASSERT_EQ(Medpipe(Args(), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["skipped"], kStudies);
  EXPECT_EQ(Medpipe(Args("--shard 3/3"), dir_ / "log").exit_code, 2);
}

TEST_F(Batch, StudyListDryRunAndFailFast) {
  // A list naming one study by folder and one by UID (taken from a scan).
  ASSERT_EQ(Medpipe("scan " + (dir_ / "archive").string() + " --out " + (dir_ / "index.json").string(), dir_ / "log").exit_code, 0);
  const auto index = ReadJson(dir_ / "index.json");
  std::set<std::string> uids;
  for (const auto& study : index["studies"]) uids.insert(study["study_instance_uid"].get<std::string>());
  ASSERT_EQ(uids.size(), static_cast<size_t>(kStudies));
  std::ofstream(dir_ / "tonight.txt") << "# tonight\n" << (dir_ / "archive" / "s0").string() << "\n" << *uids.rbegin() << "\n";

  const auto dry = Medpipe(Args("--dry-run --studies " + (dir_ / "tonight.txt").string()), dir_ / "log");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("run "), std::string::npos) << dry.output;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "status.json"));
  EXPECT_TRUE(fs::is_empty(dir_ / "out" / "studies"));

  ASSERT_EQ(Medpipe(Args("--studies " + (dir_ / "tonight.txt").string()), dir_ / "log").exit_code, 0);
  const auto results = CompleteResults();
  EXPECT_EQ(results.size(), 2u);
  EXPECT_EQ(results.count(*uids.rbegin()), 1u);

  std::ofstream(dir_ / "bad.txt") << "not a uid or folder\n";
  const auto bad = Medpipe(Args("--studies " + (dir_ / "bad.txt").string()), dir_ / "log");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("neither a StudyInstanceUID nor an existing folder"), std::string::npos) << bad.output;

  // A model that fails on every study (batches of two patches): --fail-fast hands out no study after
  // the first failure; the others in flight (at most --max-inflight) finish.
  testing::WritePackage(dir_ / "models" / "broken", testing::BatchLimitedModel("shape mismatch"),
                        testing::SegmentationManifest("broken", 2, 8));
  const auto fail_fast = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out2").string() + " --model " +
                                     (dir_ / "models" / "broken").string() + " --device cpu --batch-size 2 --fail-fast --max-inflight 2",
                                 dir_ / "log");
  EXPECT_EQ(fail_fast.exit_code, 1) << fail_fast.output;
  const auto status = ReadJson(dir_ / "out2" / "status.json");
  EXPECT_EQ(status["state"], "stopped");
  EXPECT_GE(status["failed"], 1);
  EXPECT_LE(status["failed"], 2);
  EXPECT_EQ(status["pending"], kStudies - status["failed"].get<int>());
}

// Everything but the time things took.
// Stopped at each step of publishing a study (MEDPIPE_FAILPOINT), the run leaves that study's folder
// either absent or whole, and the rerun completes the batch with one result per study: a study
// stopped before its manifest record is redone, one stopped after it is not. Once complete, a
// rerun does no inference and writes nothing except its own status.json.
TEST_F(Batch, StoppedBetweenAnyTwoPublicationStepsTheRerunCompletesTheBatch) {
  for (const std::string step : {"study_written", "study_synced", "study_renamed", "study_in_place", "study_recorded"}) {
    const auto stopped = testing::Shell("MEDPIPE_FAILPOINT=" + step + " " MEDPIPE_BINARY " " + Args("--export-threads 1"), dir_ / "log");
    ASSERT_EQ(stopped.exit_code, kFailPointExitCode) << step << "\n" << stopped.output;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
      if (entry.path().filename().string().front() == '.') continue;  // staging: hidden, removed by the rerun
      EXPECT_TRUE(fs::is_regular_file(entry.path() / "result.json")) << step << ": half a folder " << entry.path();
    }
    const auto rerun = Medpipe(Args(), dir_ / "log");
    ASSERT_EQ(rerun.exit_code, 0) << step << "\n" << rerun.output;
    EXPECT_EQ(Status()["skipped"], step == "study_recorded" ? 1 : 0) << step;
    const auto results = CompleteResults();
    EXPECT_EQ(results.size(), static_cast<size_t>(kStudies)) << step;
    for (const auto& [uid, count] : results) EXPECT_EQ(count, 1) << step << " " << uid;
    if (step != "study_recorded") fs::remove_all(dir_ / "out");
  }

  const auto snapshot = [&] {
    std::map<std::string, std::pair<fs::file_time_type, std::string>> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "out"))
      if (entry.is_regular_file() && entry.path().filename() != "status.json")
        files[entry.path().string()] = {entry.last_write_time(), Sha256File(entry.path())};
    return files;
  };
  const auto before = snapshot();
  const auto idle = Medpipe(Args(), dir_ / "log");
  ASSERT_EQ(idle.exit_code, 0) << idle.output;
  EXPECT_EQ(Status()["skipped"], kStudies);
  EXPECT_EQ(Status()["done"], 0);
  EXPECT_TRUE(snapshot() == before) << "a rerun over a complete batch changed files";
}

// A study that needs more memory than --max-worker-gib (here a 1024 x 1024 x 160 NIfTI, 640 MiB as
// floats) costs that study, not the batch: the worker is killed and replaced, the others finish.
TEST_F(Batch, AStudyOverTheMemoryLimitFailsAloneAndTheBatchGoesOn) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's shadow and quarantine put every worker near a gigabyte: limit and study grow.
  const std::string limit = "1.5";
  const std::string big = AddNiftiStudy("big", 1024, 0, 480);
#else
  const std::string limit = "0.5";
  const std::string big = AddNiftiStudy("big", 1024, 0, 160);
#endif
  RunExpectingOnlyFailure("--max-worker-gib " + limit, big, "over --max-worker-gib " + limit);
}

nlohmann::json WithoutTimings(nlohmann::json json) {
  if (json.is_object()) {
    json.erase("timings_ms");
    for (auto& [key, value] : json.items()) value = WithoutTimings(value);
  } else if (json.is_array()) {
    for (auto& value : json) value = WithoutTimings(value);
  }
  return json;
}

TEST_F(Batch, ConcurrentStagesWriteWhatOneStudyAtATimeWrites) {
  const auto sequential = Medpipe(Args("--max-inflight 1 --load-threads 1 --export-threads 1", "one"), dir_ / "log");
  ASSERT_EQ(sequential.exit_code, 0) << sequential.output;
  const auto concurrent = Medpipe(Args("--max-inflight 6 --load-threads 2 --export-threads 2", "many"), dir_ / "log");
  ASSERT_EQ(concurrent.exit_code, 0) << concurrent.output;
  // One worker loaded the models once for all the studies.
  size_t workers_ready = 0;
  for (size_t at = 0; (at = concurrent.output.find(" ready\n", at)) != std::string::npos; ++at) ++workers_ready;
  EXPECT_EQ(workers_ready, 1u) << concurrent.output;
  size_t compared = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "one" / "studies")) {
    const fs::path other = dir_ / "many" / "studies" / entry.path().filename();
    EXPECT_EQ(WithoutTimings(ReadJson(entry.path() / "result.json")), WithoutTimings(ReadJson(other / "result.json")));
    const std::string mask = ReadJson(entry.path() / "result.json")["series"][0]["analyses"][0]["outputs"]["nifti"];
    EXPECT_EQ(ReadFile(entry.path() / mask), ReadFile(other / mask)) << mask;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<size_t>(kStudies));
  // status.json tells how busy each stage and the processors were.
  const auto status = ReadJson(dir_ / "many" / "status.json");
  for (const char* stage : {"load", "infer", "export"}) EXPECT_GT(status["stage_busy_fraction"][stage].get<double>(), 0) << stage;
  EXPECT_GT(status["cpu_s"].get<double>(), 0);
  EXPECT_GT(status["worker_peak_rss_mib"].get<double>(), 10);
  const auto bad = Medpipe(Args("--max-inflight 0"), dir_ / "log");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--max-inflight"), std::string::npos) << bad.output;
}

TEST_F(Batch, AStudyPastTheTimeoutFailsAloneAndTheBatchGoesOn) {
  const std::string hang = AddHangingStudy();
  const std::string output = RunExpectingOnlyFailure("--study-timeout 3 --max-inflight 4", hang, "--study-timeout (3 s)");
  EXPECT_NE(output.find("study " + fs::absolute(dir_ / "archive" / "hang" / "hang.nii.gz").lexically_normal().string()),
            std::string::npos)
      << output;
  // The rerun redoes only the failed study (and fails it again).
  EXPECT_EQ(Medpipe(Args("--study-timeout 1"), dir_ / "log").exit_code, 1);
  EXPECT_EQ(Status()["skipped"], kStudies);
}

TEST_F(Batch, ACrashedWorkerCostsOnlyTheStudyThatCrashedIt) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer would catch the SIGSEGV sent below, report it and exit 1; let it kill as it does
  // outside the sanitizer build.
  const char* asan_options = std::getenv("ASAN_OPTIONS");
  setenv("ASAN_OPTIONS", (std::string(asan_options ? asan_options : "") + ":handle_segv=0").c_str(), 1);
#endif
  const std::string hang = AddHangingStudy();
  const pid_t child = Start({"--max-inflight", "4", "--load-threads", "2"}, (dir_ / "log").string());
  // A crash with several studies in flight (here SIGABRT, as from a library's assert()): none is
  // blamed yet; each runs again alone in a new worker.
  const auto busy = WaitForStatus([](const nlohmann::json& status) {
    return InFlight(status).size() >= 2;
  });
  const int first_worker = busy["running"]["worker_pid"];
  kill(first_worker, SIGABRT);
  // The studies that were in flight succeed alone. When the hanging study is the only one in
  // flight, a crash (SIGSEGV) is its own. A study handed out beside it waits for the device behind it
  // for ever: after a few seconds the crash blames neither, each runs alone, and the hanging study is
  // alone again. So its worker is crashed until the run ends.
  int status = 0;
  int last_killed = first_worker;
  std::optional<std::chrono::steady_clock::time_point> seen;  // the hanging study in flight in this worker since
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the run did not end: " << Status().dump(2);
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return;
    }
    const auto now = Status();
    const auto in_flight = InFlight(now);
    const bool hanging = std::any_of(in_flight.begin(), in_flight.end(), [&](const auto& study) { return study["study_id"] == hang; });
    if (hanging && now["running"]["worker_pid"] != last_killed) {
      if (!seen) seen = std::chrono::steady_clock::now();
      if (in_flight.size() == 1 || std::chrono::steady_clock::now() - *seen > std::chrono::seconds(3)) {
        last_killed = now["running"]["worker_pid"];
        kill(last_killed, SIGSEGV);
        seen.reset();
      }
    }
    usleep(20000);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(Status()["failed"], 1);
  const auto result = ReadJson(dir_ / "out" / "studies" / hang / "result.json");
  EXPECT_NE(result["error"].get<std::string>().find("killed by signal 11"), std::string::npos) << result.dump(2);
  const std::string log = ReadFile(dir_ / "log");
  EXPECT_NE(log.find("studies in flight; each runs again alone"), std::string::npos) << log;
  size_t ok = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    ASSERT_NE(entry.path().filename().string().front(), '.') << "staging left behind: " << entry.path();
    ok += ReadJson(entry.path() / "result.json")["status"] == "ok";
  }
  EXPECT_EQ(ok, static_cast<size_t>(kStudies));
}

// A study that throws while loading or exporting (MEDPIPE_FAILPOINT=<step>:throw, as a full disk or a
// vanished file would) still gets a result.json saying why; one that failed exporting keeps the files
// it had written. The rerun redoes them.
TEST_F(Batch, AStudyThatThrowsInLoadOrExportGetsAFailedResultSayingWhy) {
  for (const std::string step : {"study_loaded", "study_exported"}) {
    const auto run = testing::Shell("MEDPIPE_FAILPOINT=" + step + ":throw " MEDPIPE_BINARY " " + Args(), dir_ / "log");
    EXPECT_EQ(run.exit_code, 1) << step << "\n" << run.output;
    EXPECT_EQ(Status()["failed"], kStudies) << step;
    size_t results = 0;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
      EXPECT_NE(entry.path().filename().string().front(), '.') << step << ": staging left behind " << entry.path();
      if (!fs::exists(entry.path() / "result.json")) continue;
      ++results;
      const auto result = ReadJson(entry.path() / "result.json");
      EXPECT_EQ(result["status"], "failed") << step;
      EXPECT_NE(result.value("error", "").find(step), std::string::npos) << result.dump(2);
      if (step == "study_exported") {
        const auto mask = result.value("/series/0/analyses/0/outputs/nifti"_json_pointer, std::string());
        EXPECT_TRUE(!mask.empty() && fs::exists(entry.path() / mask)) << result.dump(2);
      }
    }
    ASSERT_EQ(results, static_cast<size_t>(kStudies)) << step;
    testing::ExpectValidResult(fs::directory_iterator(dir_ / "out" / "studies")->path() / "result.json");
  }
  ASSERT_EQ(Medpipe(Args(), dir_ / "log").exit_code, 0);
  EXPECT_EQ(CompleteResults().size(), static_cast<size_t>(kStudies));
}

TEST_F(Batch, ConfigFileGivesDefaultsAndTheCommandLineWins) {
  std::ofstream(dir_ / "task.ini") << "# a task preset\nmodel = " << (dir_ / "models" / "band").string()
                                   << "\ntta = true\noverlap = 0.6\n";
  const std::string base = "run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + " --config " +
                           (dir_ / "task.ini").string();
  const auto printed = Medpipe(base + " --overlap 0.7 --print-config", dir_ / "log");
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_NE(printed.output.find("model = " + (dir_ / "models" / "band").string()), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("tta = true"), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("overlap = 0.700000"), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("batch-size = 2  # default"), std::string::npos) << printed.output;
  EXPECT_FALSE(fs::exists(dir_ / "out"));  // printing reads and writes nothing
  // The preset's settings are the ones a run uses: a run with the same options on the command line
  // finds every study complete.
  ASSERT_EQ(Medpipe(base + " --device cpu --output-types nifti", dir_ / "log").exit_code, 0);
  ASSERT_EQ(Medpipe(Args("--tta --overlap 0.6"), dir_ / "log").exit_code, 0);
  EXPECT_EQ(Status()["skipped"], kStudies);
  const auto missing = Medpipe(Args("--config " + (dir_ / "none.ini").string()), dir_ / "log");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
}

}  // namespace
}  // namespace medpipe
