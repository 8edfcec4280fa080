#include <algorithm>
#include <iostream>

#include "archive_walk.h"
#include "commands.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/report/html_report.h"
#include "medpipe/volume_io/nifti_io.h"
#include "model_runner.h"
#include "stopwatch.h"

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

// Provenance of the input: SHA-256 over the sorted "<sha256 of file> <path>" lines of every file.
nlohmann::json SourceJson(const std::string& kind, std::vector<std::string> paths) {
  std::vector<std::string> lines;
  for (const auto& path : paths) lines.push_back(Sha256File(path) + " " + path);
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return {{"kind", kind}, {"files", paths.size()}, {"files_sha256", Sha256Hex(text)}};
}

// The parts of result.json every study has; SERIES entries and FAILURES decide the status.
nlohmann::json ResultJson(const std::string& study_id, const ModelRunner& models, nlohmann::json source,
                          nlohmann::json series, size_t failures, double total_ms) {
  return {{"schema_version", 2},
          {"medpipe_version", MEDPIPE_VERSION},
          {"study_id", study_id},
          {"status", failures ? "failed" : "ok"},
          {"source", std::move(source)},
          {"models", models.ModelsJson()},
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
size_t RunStudy(const dicom::Study& study, ModelRunner& models, const fs::path& studies_dir) {
  Stopwatch study_clock;
  StagedFolder folder(studies_dir / study.id);
  nlohmann::json series_results = nlohmann::json::array();
  std::vector<std::string> paths;
  size_t model_failures = 0;
  std::vector<exporter::SegmentationFindings> segmentations;
  std::vector<exporter::ClassificationFinding> classifications;
  const auto record = [&](const dicom::Series& series, nlohmann::json extra) {
    for (const auto& file : series.files) paths.push_back(file.path);
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
      std::cerr << "medpipe run: study " << study.id << ": no SR: " << error.what() << "\n";
    }
  }
  const size_t failures = load_failures + model_failures;
  nlohmann::json result = ResultJson(study.id, models, SourceJson("dicom", paths), series_results, failures, study_clock.Lap());
  result["study_instance_uid"] = study.study_instance_uid;
  if (!outputs.empty()) result["outputs"] = outputs;
  WriteFileAtomically(folder.Path() / "result.json", result.dump(2) + "\n");
  folder.Commit();
  return failures;
}

// A NIfTI file: a study of one series, named after its path.
size_t RunNifti(const fs::path& file, ModelRunner& models, const fs::path& studies_dir) {
  Stopwatch clock;
  const std::string study_id = ShortId(fs::absolute(file).lexically_normal().string());
  StagedFolder folder(studies_dir / study_id);
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
  nlohmann::json source = SourceJson("nifti", {file.string()});
  source["path"] = file.string();
  const nlohmann::json result = ResultJson(study_id, models, source, {series}, failures, clock.Lap());
  WriteFileAtomically(folder.Path() / "result.json", result.dump(2) + "\n");
  folder.Commit();
  return failures;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  po::variables_map vm;
  int exit_code = kExitOk;
  po::options_description model_options("model options");
  AddModelOptions(model_options);
  if (!ParseArchiveToOutdir(args, "run", "output folder; results under OUT/studies/<study-id>/", "studies", vm, exit_code,
                            &model_options))
    return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();
  const fs::path studies_dir = outdir / "studies";

  Stopwatch clock;
  ModelRunner models(vm);  // refuses a bad model before any study is read
  RemoveStaleStaging(studies_dir);
  const auto index = IndexArchive(vm);
  size_t failures = 0;
  // A study that cannot be written at all (disk full, permissions) is reported; the batch goes on.
  const auto guarded = [&](const std::string& what, const auto& run) {
    try {
      failures += run();
    } catch (const std::exception& error) {
      ++failures;
      std::cerr << "medpipe run: " << what << " not written: " << error.what() << "\n";
    }
  };
  for (const auto& study : index.studies)
    guarded("study " + study.id, [&] { return RunStudy(study, models, studies_dir); });
  for (const auto& file : index.nifti_files)
    guarded(file.string(), [&] { return RunNifti(file, models, studies_dir); });
  WriteFileAtomically(outdir / "problems.json", dicom::ProblemsToJson(index.problems).dump(2) + "\n");
  report::WriteResultsCsv(outdir);
  report::WriteHtmlReport(outdir);
  std::cerr << "medpipe run: " << index.studies.size() + index.nifti_files.size() << " studies, " << failures
            << " failures, " << index.problems.size() << " files skipped, " << clock.Lap() / 1000 << " s\n";
  return failures ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
