#include <chrono>
#include <iostream>
#include <map>

#include "archive_walk.h"
#include "commands.h"
#include "medpipe/core/error.h"
#include "medpipe/dicom/index_json.h"

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

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseArchiveToOutdir(args, "run", "output folder; results under OUT/studies/<study-id>/", "studies", vm, exit_code)) return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();

  const auto started = std::chrono::steady_clock::now();
  const auto index = IndexArchive(vm);
  std::map<std::string, nlohmann::json> series_results;  // study id -> series entries
  const auto record = [&](const dicom::Study& study, const dicom::Series& series, nlohmann::json extra) {
    nlohmann::json entry = dicom::SeriesToJson(series);
    entry.update(extra);
    series_results[study.id].push_back(entry);
  };
  const size_t failures = ForEachSeries(
      index,
      [&](const dicom::Study& study, const dicom::Series& series, const Volume& volume) {
        record(study, series, {{"loaded", true}, {"volume", LoadedVolumeJson(volume)}});
      },
      [&](const dicom::Study& study, const dicom::Series& series, const std::string& reason) {
        record(study, series, {{"loaded", false}, {"error", reason}});
      });

  for (const auto& study : index.studies) {
    const fs::path folder = outdir / "studies" / study.id;
    fs::create_directories(folder);
    const nlohmann::json result = {{"schema_version", 1},
                                   {"medpipe_version", MEDPIPE_VERSION},
                                   {"study_id", study.id},
                                   {"study_instance_uid", study.study_instance_uid},
                                   {"series", series_results[study.id]}};
    WriteFileAtomically(folder / "result.json", result.dump(2) + "\n");
  }
  WriteFileAtomically(outdir / "problems.json", dicom::ProblemsToJson(index.problems).dump(2) + "\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "medpipe run: " << index.studies.size() << " studies, " << failures << " series failed, "
            << index.problems.size() << " files skipped, " << seconds << " s\n";
  return failures ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
