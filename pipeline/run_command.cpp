#include <chrono>
#include <iostream>

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

nlohmann::json ResultJson(const std::string& study_id, const ModelRunner& models) {
  return {{"schema_version", 1}, {"medpipe_version", MEDPIPE_VERSION}, {"study_id", study_id}, {"models", models.ModelsJson()}};
}

// One DICOM study: every series loaded and analysed, written to its folder as a whole.
size_t RunStudy(const dicom::Study& study, ModelRunner& models, const fs::path& studies_dir) {
  StagedFolder folder(studies_dir / study.id);
  nlohmann::json series_results = nlohmann::json::array();
  size_t model_failures = 0;
  const auto record = [&](const dicom::Series& series, nlohmann::json extra) {
    nlohmann::json entry = dicom::SeriesToJson(series);
    entry.update(extra);
    series_results.push_back(entry);
  };
  const size_t load_failures = ForEachSeries(
      study,
      [&](const dicom::Study&, const dicom::Series& series, const Volume& volume) {
        const std::string stem = std::to_string(series.series_number) + "_" + series.id;
        record(series, {{"loaded", true},
                        {"volume", LoadedVolumeJson(volume)},
                        {"analyses", models.Analyse(volume, series.files.front().modality, folder.Path(), stem, model_failures)}});
      },
      [&](const dicom::Study&, const dicom::Series& series, const std::string& reason) {
        record(series, {{"loaded", false}, {"error", reason}});
      });
  nlohmann::json result = ResultJson(study.id, models);
  result["study_instance_uid"] = study.study_instance_uid;
  result["series"] = series_results;
  WriteFileAtomically(folder.Path() / "result.json", result.dump(2) + "\n");
  folder.Commit();
  return load_failures + model_failures;
}

// A NIfTI file: a study of one series, named after its path.
size_t RunNifti(const fs::path& file, ModelRunner& models, const fs::path& studies_dir) {
  const std::string study_id = ShortId(fs::absolute(file).lexically_normal().string());
  StagedFolder folder(studies_dir / study_id);
  nlohmann::json series = {{"source", file.string()}, {"kind", "nifti"}};
  size_t failures = 0;
  try {
    const Volume volume{{ReadNifti(file)}};
    series.update({{"loaded", true},
                   {"volume", LoadedVolumeJson(volume)},
                   {"analyses", models.Analyse(volume, "", folder.Path(), "nifti", failures)}});
  } catch (const std::exception& error) {
    ++failures;
    series.update({{"loaded", false}, {"error", error.what()}});
  }
  nlohmann::json result = ResultJson(study_id, models);
  result["series"] = {series};
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

  const auto started = std::chrono::steady_clock::now();
  ModelRunner models(vm);  // refuses a bad model before any study is read
  RemoveStaleStaging(studies_dir);
  const auto index = IndexArchive(vm);
  size_t failures = 0;
  for (const auto& study : index.studies) failures += RunStudy(study, models, studies_dir);
  for (const auto& file : index.nifti_files) failures += RunNifti(file, models, studies_dir);
  WriteFileAtomically(outdir / "problems.json", dicom::ProblemsToJson(index.problems).dump(2) + "\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "medpipe run: " << index.studies.size() + index.nifti_files.size() << " studies, " << failures
            << " failures, " << index.problems.size() << " files skipped, " << seconds << " s\n";
  return failures ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
