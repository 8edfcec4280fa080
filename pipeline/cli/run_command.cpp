#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "batch/progress.h"
#include "batch/stop_signal.h"
#include "batch/supervisor.h"
#include "batch/worker.h"
#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/network_options.h"
#include "cli/option_errors.h"
#include "isolation/result_sender.h"
#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/report/html_report.h"
#include "stages/model_runner.h"
#include "stages/select_models.h"
#include "stages/series_walk.h"
#include "stages/study_stages.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

void AddBatchOptions(po::options_description& options) {
  const unsigned cores = UsableCores();
  const unsigned load_threads = std::max(1u, cores / 4), export_threads = std::max(1u, cores / 8);
  options.add_options()
      ("force", po::bool_switch(), "run every study again, even those with complete results")
      ("dry-run", po::bool_switch(), "list what would run or be skipped; write no results")
      ("studies", po::value<std::string>(), "only these studies: a file with one StudyInstanceUID or folder per line")
      ("shard", po::value<std::string>()->default_value("0/1"), "process shard I of N (0 <= I < N), for N machines")
      ("fail-fast", po::bool_switch(), "hand out no study after the first that fails (those in flight finish)")
      ("progress-json", po::value<std::string>(), "append JSON-lines progress events to this file")
      ("max-inflight", po::value<size_t>()->default_value(load_threads + export_threads + 2),
       "studies in memory at once (loading, waiting for the device, exporting); 1 runs them one at a time")
      ("load-threads", po::value<unsigned>()->default_value(load_threads), "threads that decode and preprocess studies")
      ("export-threads", po::value<unsigned>()->default_value(export_threads), "threads that postprocess and write results")
      ("study-timeout", po::value<double>()->default_value(0), "seconds a study may take before it is abandoned as failed; 0: no limit")
      ("max-worker-gib", po::value<double>()->default_value(0),
       "resident memory (GiB) at which the worker is killed and its study failed; 0: 80 % of the machine's memory");
}

SupervisorOptions SupervisorOptionsOf(const po::variables_map& vm) {
  SupervisorOptions options{vm["max-inflight"].as<size_t>(), vm["study-timeout"].as<double>(), vm["fail-fast"].as<bool>(),
                            vm["max-worker-gib"].as<double>(), vm["deidentify"].as<bool>()};
  AtLeast<size_t>("--max-inflight", options.max_inflight, 1, " (studies in memory at once; 1 runs them one at a time)");
  AtLeast("--study-timeout", options.study_timeout_s, 0.0, " seconds (0: no limit)");
  AtLeast("--max-worker-gib", options.max_worker_gib, 0.0, " GiB (0: 80 % of the machine's memory)");
  // Below the OOM killer's point, so that the worker, not the run or another process, is the one that goes.
  if (options.max_worker_gib == 0)
    options.max_worker_gib = 0.8 * static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE) / (1 << 30);
  return options;
}

WorkerThreads WorkerThreadsOf(const po::variables_map& vm) {
  const WorkerThreads threads{vm["load-threads"].as<unsigned>(), vm["export-threads"].as<unsigned>(), vm["max-inflight"].as<size_t>()};
  AtLeast("--load-threads", threads.load, 1u);
  AtLeast("--export-threads", threads.export_, 1u);
  return threads;
}

// The series of ITEMS that are left out by design: counted apart from files skipped and from failures.
size_t SeriesLeftOutByDesign(const std::vector<WorkItem>& items) {
  size_t count = 0;
  for (const auto& item : items)
    if (item.study) count += std::count_if(item.study->series.begin(), item.study->series.end(), LeftOutByDesign);
  return count;
}

// Shards may share OUT: each keeps its own status file and manifest, e.g. status-2-of-8.json.
std::string ShardFileName(const std::string& stem, const Shard& shard, const std::string& extension) {
  if (shard.count == 1) return stem + extension;
  return stem + "-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) + extension;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  po::variables_map vm;
  int exit_code = kExitOk;
  po::options_description extra_options;
  po::options_description batch_options("batch options");
  AddBatchOptions(batch_options);
  po::options_description model_options("model options");
  AddModelOptions(model_options);
  po::options_description network_options("sending results to a PACS");
  network_options.add_options()("send", po::value<std::string>(),
                                "HOST:PORT:AET: C-STORE each study's SEG, RTSTRUCT and SR to this PACS once it is done")(
      "send-reviewed-only", po::bool_switch(),
      "with --send: only studies accepted in OUT/review.jsonl (`medpipe review`) as they are now, the SR verified");
  AddNetworkOptions(network_options);
  extra_options.add(batch_options).add(model_options).add(network_options);
  if (!ParseArchiveToOutdir(args, "run", "output folder; results under OUT/studies/<study-id>/", "studies", vm, exit_code,
                            &extra_options))
    return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();
  const Shard shard = ParseShard(vm["shard"].as<std::string>());
  std::optional<StudyList> wanted;
  if (vm.count("studies")) wanted = ReadStudyList(vm["studies"].as<std::string>());
  const SupervisorOptions supervisor_options = SupervisorOptionsOf(vm);
  const WorkerThreads threads = WorkerThreadsOf(vm);
  const DecodeLimits decode_limits = DecodeLimitsOf(vm);
  std::optional<net::Peer> send_to;
  if (vm.count("send")) send_to = net::ParsePeer("--send", vm["send"].as<std::string>());
  const bool reviewed_only = vm["send-reviewed-only"].as<bool>();
  if (reviewed_only && !send_to) throw ConfigError("--send-reviewed-only", "is given without --send HOST:PORT:AET");
  const net::NetSettings net_settings = NetSettingsOf(vm);
  const RunSettings settings = RunSettingsOf(vm);  // refuses bad settings and manifests before any study is read

  Stopwatch clock;
  const auto index = IndexArchive(vm);
  const double index_seconds = clock.Lap() / 1000;
  const auto items = SelectWork(ListWork(index), shard, wanted);
  const bool force = vm["force"].as<bool>();
  const ResultStore store(outdir, ShardFileName("manifest", shard, ".jsonl"));
  if (vm["dry-run"].as<bool>()) {
    ModelRunner models(settings);
    SeriesDecoder no_decoder(0, decode_limits);  // a dry run decodes nothing
    const StudyStages stages(models, no_decoder, store, {force, settings.deidentify});
    const auto manifests = models.Manifests();
    for (const auto& item : items) {
      std::cout << (stages.AlreadyComplete(item) ? "skip " : "run ") << item.id << " " << item.uid << "\n";
      if (item.study)
        for (const auto& line : SelectionLines(*item.study, manifests)) std::cout << line << "\n";
    }
    return kExitOk;
  }
  std::set<std::string> ids;
  for (const auto& item : items) ids.insert(item.id);
  RemoveStaleStaging(store.StudiesDir(), ids);

  InstallStopHandlers();
  std::optional<fs::path> events;
  if (vm.count("progress-json")) events = vm["progress-json"].as<std::string>();
  BatchProgress progress(outdir / ShardFileName("status", shard, ".json"), items.size(), index_seconds, events);
  // Runs in the worker process, which loads the models once and keeps them for every study it gets.
  // Its decoder processes are forked first, before a model or a thread exists in it.
  const WorkerMain worker_main = [&](int in_fd, int out_fd) {
    try {
      SeriesDecoder decoder(threads.load, decode_limits);
      ModelRunner models(settings);
      StudyStages stages(models, decoder, store, {force, settings.deidentify});
      RunWorker(items, stages, threads, in_fd, out_fd);
      return kExitOk;
    } catch (const std::exception& error) {
      return ReportFatal(error);  // a bad model or device: the exit code says which
    }
  };
  std::optional<ResultSender> sender;
  const StudyRecorded send_results = [&](const WorkItem& item, Outcome outcome) {
    if (!send_to || outcome == Outcome::Failed) return;
    if (!sender) sender.emplace(*send_to, net_settings, store.StudiesDir(), outdir / ShardFileName("sent", shard, ".jsonl"),
                                 reviewed_only);
    sender->Send(item.id);
  };
  const SupervisedRun run = Supervise(items, worker_main, supervisor_options, store, progress, send_results);
  const size_t unsent = sender ? sender->Finish() : 0;
  if (run.start_failure) {
    progress.Finish("not started");
    return run.start_failure;
  }
  WriteFileAtomically(outdir / "problems.json", JsonText(dicom::ProblemsToJson(index.problems)) + "\n");
  report::WriteResultsCsv(outdir);
  report::WriteHtmlReport(outdir);
  progress.Finish(run.stopped ? "stopped" : "finished");
  Log(LogLevel::Info, std::to_string(index.problems.size()) + " files skipped (problems.json), " +
                          std::to_string(SeriesLeftOutByDesign(items)) +
                          " series left out by design (localizers, secondary captures, non-image objects), " +
                          std::to_string(index_seconds + clock.Lap() / 1000) + " s in all");
  if (run.workers_lost) return kExitCannotStart;
  if (run.stopped && StopRequested()) return kExitStopped;
  return progress.Failed() || unsent ? kExitSomeFailed : kExitOk;
}

int FeaturesCommand(const std::vector<std::string>& args) {
  std::vector<std::string> run_args = args;
  run_args.insert(run_args.end(), {"--output-types", "features"});
  return RunCommand(run_args);
}

}  // namespace medpipe::cli
