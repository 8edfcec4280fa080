#include <iostream>
#include <set>

#include "archive_walk.h"
#include "commands.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/log.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/report/html_report.h"
#include "medpipe/volume_io/nifti_io.h"
#include "model_runner.h"
#include "progress.h"
#include "resume.h"
#include "stop_signal.h"
#include "stopwatch.h"
#include "work_list.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

nlohmann::json LoadedVolumeJson(const Volume& volume) {
  const Image3D& grid = volume.Grid();
  const auto size = grid.GetLargestPossibleRegion().GetSize();
  const auto spacing = grid.GetSpacing();
  return {{"size", {size[0], size[1], size[2]}},
          {"spacing_mm", {spacing[0], spacing[1], spacing[2]}},
          {"channels", volume.channels.size()}};
}

// What one study needs besides its input: the models, where results go, and the settings digest.
struct StudyRun {
  ModelRunner& models;
  fs::path studies_dir;
  std::string settings_sha256;
  bool force = false;  // --force: run studies even when their complete result is there
};

// The parts of result.json every study has; SERIES entries and FAILURES decide the status.
nlohmann::json ResultJson(const WorkItem& item, const StudyRun& run, nlohmann::json source, nlohmann::json series,
                          size_t failures, double total_ms) {
  return {{"schema_version", 2},
          {"medpipe_version", MEDPIPE_VERSION},
          {"study_id", item.id},
          {"status", failures ? "failed" : "ok"},
          {"source", std::move(source)},
          {"settings_sha256", run.settings_sha256},
          {"models", run.models.ModelsJson()},
          {"series", std::move(series)},
          {"timings_ms", {{"total", total_ms}}}};
}

// The series' review picture; a failure to draw it is recorded, not fatal to the study.
void AddOverlay(const SeriesContext& context, const SeriesAnalysis& analysis, nlohmann::json& entry, size_t& failures) {
  try {
    entry["overlay"] = WriteSeriesOverlay(context, analysis);
  } catch (const std::exception& error) {
    ++failures;
    entry["overlay_error"] = error.what();
  }
}

// One DICOM study: every series loaded and analysed, written to its folder as a whole.
size_t RunStudy(const WorkItem& item, const nlohmann::json& source, const StudyRun& run) {
  const dicom::Study& study = *item.study;
  ModelRunner& models = run.models;
  Stopwatch study_clock;
  StagedFolder folder(run.studies_dir / item.id);
  nlohmann::json series_results = nlohmann::json::array();
  size_t model_failures = 0;
  std::vector<exporter::SegmentationFindings> segmentations;
  std::vector<exporter::ClassificationFinding> classifications;
  const auto record = [&](const dicom::Series& series, nlohmann::json extra) {
    nlohmann::json entry = dicom::SeriesToJson(series);
    entry["analyses"] = nlohmann::json::array();
    entry.update(extra);
    series_results.push_back(entry);
  };
  Stopwatch load_clock;
  const size_t load_failures = ForEachSeries(
      study,
      [&](const dicom::Series& series, const Volume& volume) {
        const double load_ms = load_clock.Lap();
        const SeriesContext context{volume, series.modality, &series, folder.Path(), SeriesStem(series)};
        auto analysis = models.Analyse(context);
        model_failures += analysis.failures;
        segmentations.insert(segmentations.end(), analysis.segmentations.begin(), analysis.segmentations.end());
        classifications.insert(classifications.end(), analysis.classifications.begin(), analysis.classifications.end());
        nlohmann::json entry = {{"loaded", true},
                                {"volume", LoadedVolumeJson(volume)},
                                {"analyses", analysis.entries},
                                {"timings_ms", {{"load", load_ms}}}};
        AddOverlay(context, analysis, entry, model_failures);
        record(series, entry);
        load_clock.Lap();
      },
      [&](const dicom::Series& series, const std::string& reason) {
        record(series, {{"loaded", false}, {"error", reason}});
        load_clock.Lap();
      });
  // One measurement report for the study's volumes and classifications, referencing SEGs and images.
  nlohmann::json outputs = nlohmann::json::object();
  if (models.Outputs().sr && (!segmentations.empty() || !classifications.empty())) {
    try {
      exporter::WriteMeasurementReport(segmentations, classifications, folder.Path() / "sr.dcm");
      outputs["sr"] = "sr.dcm";
    } catch (const std::exception& error) {
      ++model_failures;
      Log(LogLevel::Error, "study " + study.study_instance_uid + ": no SR: " + error.what());
    }
  }
  const size_t failures = load_failures + model_failures;
  nlohmann::json result = ResultJson(item, run, source, series_results, failures, study_clock.Lap());
  result["study_instance_uid"] = study.study_instance_uid;
  if (!outputs.empty()) result["outputs"] = outputs;
  WriteFileAtomically(folder.Path() / "result.json", result.dump(2) + "\n");
  folder.Commit();
  return failures;
}

// A NIfTI file: a study of one series, named after its path.
size_t RunNifti(const WorkItem& item, nlohmann::json source, const StudyRun& run) {
  const fs::path& file = item.nifti;
  ModelRunner& models = run.models;
  Stopwatch clock;
  StagedFolder folder(run.studies_dir / item.id);
  nlohmann::json series = {{"id", "nifti"}, {"modality", ""}, {"kind", "nifti"}, {"problems", nlohmann::json::array()},
                           {"analyses", nlohmann::json::array()}};
  size_t failures = 0;
  try {
    const Volume volume{{ReadNifti(file)}};
    series["timings_ms"] = {{"load", clock.Lap()}};
    const SeriesContext context{volume, "", nullptr, folder.Path(), "nifti"};
    auto analysis = models.Analyse(context);
    failures += analysis.failures;
    series.update({{"loaded", true}, {"volume", LoadedVolumeJson(volume)}, {"analyses", analysis.entries}});
    AddOverlay(context, analysis, series, failures);
  } catch (const std::exception& error) {
    ++failures;
    series.update({{"loaded", false}, {"error", error.what()}});
  }
  source["path"] = file.string();
  const nlohmann::json result = ResultJson(item, run, source, {series}, failures, clock.Lap());
  WriteFileAtomically(folder.Path() / "result.json", result.dump(2) + "\n");
  folder.Commit();
  return failures;
}

nlohmann::json SourceOf(const WorkItem& item) { return SourceJson(item.study ? "dicom" : "nifti", item.files); }

bool AlreadyComplete(const WorkItem& item, const nlohmann::json& source, const StudyRun& run) {
  return !run.force && IsComplete(run.studies_dir / item.id, source, run.settings_sha256);
}

// Runs ITEM unless its complete result is already there; "kill -9" at any moment leaves at most this
// study to redo, as its folder only appears when it is whole.
Outcome RunOrSkip(const WorkItem& item, const StudyRun& run) {
  try {
    const nlohmann::json source = SourceOf(item);
    if (AlreadyComplete(item, source, run)) return Outcome::Skipped;
    return (item.study ? RunStudy(item, source, run) : RunNifti(item, source, run)) ? Outcome::Failed : Outcome::Ok;
  } catch (const std::exception& error) {
    // A study that cannot be written at all (disk full, permissions) is reported; the batch goes on.
    Log(LogLevel::Error, "study " + item.uid + " (" + item.id + ") not written: " + error.what());
    return Outcome::Failed;
  }
}

void AddBatchOptions(po::options_description& options) {
  options.add_options()
      ("force", po::bool_switch(), "run every study again, even those with complete results")
      ("dry-run", po::bool_switch(), "list what would run or be skipped; write no results")
      ("studies", po::value<std::string>(), "only these studies: a file with one StudyInstanceUID or folder per line")
      ("shard", po::value<std::string>()->default_value("0/1"), "process shard I of N (0 <= I < N), for N machines")
      ("fail-fast", po::bool_switch(), "stop at the first study that fails")
      ("progress-json", po::value<std::string>(), "append JSON-lines progress events to this file");
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
  extra_options.add(batch_options).add(model_options);
  if (!ParseArchiveToOutdir(args, "run", "output folder; results under OUT/studies/<study-id>/", "studies", vm, exit_code,
                            &extra_options))
    return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();
  const Shard shard = ParseShard(vm["shard"].as<std::string>());
  std::optional<StudyList> wanted;
  if (vm.count("studies")) wanted = ReadStudyList(vm["studies"].as<std::string>());

  Stopwatch clock;
  ModelRunner models(vm);  // refuses a bad model before any study is read
  const StudyRun run{models, outdir / "studies", Sha256Hex(models.SettingsJson().dump()), vm["force"].as<bool>()};
  const auto index = IndexArchive(vm);
  const auto items = SelectWork(ListWork(index), shard, wanted);
  if (vm["dry-run"].as<bool>()) {
    for (const auto& item : items)
      std::cout << (AlreadyComplete(item, SourceOf(item), run) ? "skip " : "run ") << item.id << " " << item.uid << "\n";
    return kExitOk;
  }
  std::set<std::string> ids;
  for (const auto& item : items) ids.insert(item.id);
  RemoveStaleStaging(run.studies_dir, ids);

  InstallStopHandlers();
  // Shards may share OUT: each keeps its own status file.
  const std::string status_name = shard.count == 1 ? "status.json" : "status-" + std::to_string(shard.index) + "-of-" +
                                                                        std::to_string(shard.count) + ".json";
  std::optional<fs::path> events;
  if (vm.count("progress-json")) events = vm["progress-json"].as<std::string>();
  BatchProgress progress(outdir / status_name, items.size(), events);
  bool stopped = false;
  for (const auto& item : items) {
    if (StopRequested()) {
      stopped = true;
      Log(LogLevel::Warning, "stop requested: no new studies are started");
      break;
    }
    Stopwatch study_clock;
    const Outcome outcome = RunOrSkip(item, run);
    progress.Record(item, outcome, study_clock.Lap());
    if (outcome == Outcome::Failed && vm["fail-fast"].as<bool>()) {
      stopped = true;
      Log(LogLevel::Error, "--fail-fast: stopping after the failure of study " + item.uid);
      break;
    }
  }
  WriteFileAtomically(outdir / "problems.json", dicom::ProblemsToJson(index.problems).dump(2) + "\n");
  report::WriteResultsCsv(outdir);
  report::WriteHtmlReport(outdir);
  progress.Finish(stopped ? "stopped" : "finished");
  Log(LogLevel::Info, std::to_string(index.problems.size()) + " files skipped (problems.json), " +
                          std::to_string(clock.Lap() / 1000) + " s in all");
  if (stopped && StopRequested()) return kExitStopped;
  return progress.Failed() ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
