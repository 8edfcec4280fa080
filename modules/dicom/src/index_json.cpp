#include "medpipe/dicom/index_json.h"

namespace medpipe::dicom {

nlohmann::json SeriesToJson(const Series& series) {
  const FileHeader& first = series.files.front();
  nlohmann::json json = {
      {"id", series.id},
      {"series_instance_uid", series.series_instance_uid},
      {"series_number", series.series_number},
      {"description", series.description},
      {"modality", series.modality},
      {"kind", SeriesKindName(series.kind)},
      {"files", series.files.size()},
      {"slices", series.slices.size()},
      {"rows", first.pixels.rows},
      {"columns", first.pixels.columns},
      {"transfer_syntax_uid", first.transfer_syntax_uid},
      {"problems", series.problems},
      {"refused", series.Refused()},
  };
  nlohmann::json paths = nlohmann::json::array();
  for (const FileHeader& file : series.files) paths.push_back(file.path);
  json["paths"] = paths;  // which files made the series: every input file is accounted for
  if (!series.split_key.empty()) json["split_key"] = series.split_key;
  if (!series.unreferenceable.empty()) json["unreferenceable"] = series.unreferenceable;
  if (series.kind == SeriesKind::Volume && series.stack.spacing > 0) {
    json["slice_spacing_mm"] = series.stack.spacing;
    json["gantry_tilt_deg"] = series.stack.tilt_deg;
  }
  return json;
}

nlohmann::json ProblemsToJson(const std::vector<PathProblem>& problems) {
  nlohmann::json json = nlohmann::json::array();
  for (const PathProblem& problem : problems) json.push_back({{"path", problem.path}, {"reason", problem.reason}});
  return json;
}

nlohmann::json IndexToJson(const ArchiveIndex& index) {
  nlohmann::json studies = nlohmann::json::array();
  for (const Study& study : index.studies) {
    nlohmann::json series = nlohmann::json::array();
    for (const Series& s : study.series) series.push_back(SeriesToJson(s));
    studies.push_back({{"id", study.id},
                       {"study_instance_uid", study.study_instance_uid},
                       {"study_date", study.study_date},
                       {"series", series}});
  }
  return {{"files_seen", index.files_seen},
          {"non_dicom_files", index.non_dicom_files},
          {"duplicate_files", index.duplicate_files},
          {"studies", studies},
          {"problems", ProblemsToJson(index.problems)}};
}

}  // namespace medpipe::dicom
