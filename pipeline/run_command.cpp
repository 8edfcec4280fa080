#include <chrono>
#include <iostream>
#include <map>

#include "archive_walk.h"
#include "commands.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/volume_io/nifti_io.h"
#include "model_runner.h"

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

fs::path StudyFolder(const fs::path& outdir, const std::string& study_id) {
  const fs::path folder = outdir / "studies" / study_id;
  fs::create_directories(folder);
  return folder;
}

nlohmann::json ResultJson(const std::string& study_id, const ModelRunner& models) {
  return {{"schema_version", 1}, {"medpipe_version", MEDPIPE_VERSION}, {"study_id", study_id}, {"models", models.ModelsJson()}};
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

  const auto started = std::chrono::steady_clock::now();
  ModelRunner models(vm);  // refuses a bad model before any study is read
  const auto index = IndexArchive(vm);
  std::map<std::string, nlohmann::json> series_results;  // study id -> series entries
  size_t failures = 0;
  const auto record = [&](const dicom::Study& study, const dicom::Series& series, nlohmann::json extra) {
    nlohmann::json entry = dicom::SeriesToJson(series);
    entry.update(extra);
    series_results[study.id].push_back(entry);
  };
  failures += ForEachSeries(
      index,
      [&](const dicom::Study& study, const dicom::Series& series, const Volume& volume) {
        const std::string stem = std::to_string(series.series_number) + "_" + series.id;
        record(study, series,
               {{"loaded", true},
                {"volume", LoadedVolumeJson(volume)},
                {"analyses", models.Analyse(volume, series.files.front().modality, StudyFolder(outdir, study.id), stem, failures)}});
      },
      [&](const dicom::Study& study, const dicom::Series& series, const std::string& reason) {
        record(study, series, {{"loaded", false}, {"error", reason}});
      });

  for (const auto& study : index.studies) {
    nlohmann::json result = ResultJson(study.id, models);
    result["study_instance_uid"] = study.study_instance_uid;
    result["series"] = series_results[study.id];
    WriteFileAtomically(StudyFolder(outdir, study.id) / "result.json", result.dump(2) + "\n");
  }
  // Each NIfTI file is a study of one series, named after its path.
  for (const auto& file : index.nifti_files) {
    const std::string study_id = ShortId(fs::absolute(file).lexically_normal().string());
    const fs::path folder = StudyFolder(outdir, study_id);
    nlohmann::json series = {{"source", file.string()}, {"kind", "nifti"}};
    try {
      const Volume volume{{ReadNifti(file)}};
      series.update({{"loaded", true},
                     {"volume", LoadedVolumeJson(volume)},
                     {"analyses", models.Analyse(volume, "", folder, "nifti", failures)}});
    } catch (const std::exception& error) {
      ++failures;
      series.update({{"loaded", false}, {"error", error.what()}});
    }
    nlohmann::json result = ResultJson(study_id, models);
    result["series"] = {series};
    WriteFileAtomically(folder / "result.json", result.dump(2) + "\n");
  }
  WriteFileAtomically(outdir / "problems.json", dicom::ProblemsToJson(index.problems).dump(2) + "\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "medpipe run: " << index.studies.size() + index.nifti_files.size() << " studies, " << failures
            << " failures, " << index.problems.size() << " files skipped, " << seconds << " s\n";
  return failures ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
