#include "study_stages.h"

#include "archive_walk.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/volume_io/nifti_io.h"
#include "resume.h"

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

// The series' review picture; a failure to draw it is recorded, not fatal to the study.
void AddOverlay(const SeriesContext& context, const SeriesAnalysis& analysis, nlohmann::json& entry, size_t& failures) {
  try {
    Stopwatch clock;
    entry["overlay"] = WriteSeriesOverlay(context, analysis);
    entry["timings_ms"]["overlay"] = clock.Lap();
  } catch (const std::exception& error) {
    ++failures;
    entry["overlay_error"] = error.what();
  }
}

SeriesContext ContextOf(const SeriesInFlight& series, const StudyInFlight& study) {
  return {*series.volume, series.modality, series.source.series ? &series.source : nullptr, study.folder->Path(),
          series.stem};
}

}  // namespace

StudyStages::StudyStages(ModelRunner& models, SeriesDecoder& decoder, const ResultStore& store, bool force)
    : models_(models),
      decoder_(decoder),
      store_(store),
      settings_sha256_(Sha256Hex(models.SettingsJson().dump())),
      force_(force) {}

bool StudyStages::Complete(const WorkItem& item, const nlohmann::json& source) const {
  return !force_ && store_.IsComplete(item.id, source, settings_sha256_);
}

bool StudyStages::AlreadyComplete(const WorkItem& item) const { return Complete(item, SourceJson(item)); }

std::unique_ptr<StudyInProgress> StudyStages::Load(const WorkItem& item) {
  auto study = std::make_unique<StudyInFlight>();
  study->item = &item;
  study->source = SourceJson(item);
  if (Complete(item, study->source)) return nullptr;
  study->folder = store_.Stage(item.id);
  if (item.study) {
    LoadDicom(*study);
  } else {
    LoadNifti(*study);
  }
  FailPoint("study_loaded");
  return study;
}

void StudyStages::Prepare(StudyInFlight& study, SeriesInFlight& series) {
  series.jobs = models_.Prepare(ContextOf(series, study));
}

void StudyStages::LoadDicom(StudyInFlight& study) {
  study.failures += ForEachSeries(
      *study.item->study, decoder_,
      [&](const dicom::Series& source, DecodedSeries& decoded) {
        SeriesInFlight& series = study.series.emplace_back();
        series = {{&source, std::move(decoded.header)}, source.modality, SeriesStem(source), std::move(decoded.volume),
                  dicom::SeriesToJson(source), {}};
        series.entry.update({{"loaded", true},
                             {"analyses", nlohmann::json::array()},
                             {"volume", LoadedVolumeJson(*series.volume)},
                             {"timings_ms",
                              {{"decode", decoded.timings.decode_ms},
                               {"assemble", decoded.timings.assemble_ms},
                               {"handover", decoded.handover_ms}}}});
        Prepare(study, series);
      },
      [&](const dicom::Series& source, const Failure& failure) {
        SeriesInFlight& series = study.series.emplace_back();
        series.source.series = &source;
        series.entry = dicom::SeriesToJson(source);
        series.entry.update({{"loaded", false}, {"error", failure.message}, {"failure", failure},
                             {"analyses", nlohmann::json::array()}});
      });
}

// A NIfTI file: a study of one series, which any model may read (no modality to check).
void StudyStages::LoadNifti(StudyInFlight& study) {
  SeriesInFlight& series = study.series.emplace_back();
  series.stem = "nifti";
  series.entry = {{"id", "nifti"}, {"modality", ""}, {"kind", "nifti"}, {"problems", nlohmann::json::array()},
                  {"analyses", nlohmann::json::array()}};
  try {
    Stopwatch clock;
    series.volume = Volume{{ReadNifti(study.item->nifti)}};
    series.entry.update({{"loaded", true}, {"volume", LoadedVolumeJson(*series.volume)}, {"timings_ms", {{"decode", clock.Lap()}}}});
    Prepare(study, series);
  } catch (const std::exception& error) {
    ++study.failures;
    series.entry.update({{"loaded", false}, {"error", error.what()}, {"failure", FailureOf(error)}});
  }
}

void StudyStages::Infer(StudyInProgress& in_progress) const {
  auto& study = static_cast<StudyInFlight&>(in_progress);  // Load made it
  for (auto& series : study.series)
    for (auto& job : series.jobs) models_.Infer(job);
}

size_t StudyStages::Export(StudyInProgress& in_progress) const {
  auto& study = static_cast<StudyInFlight&>(in_progress);  // Load made it
  std::vector<exporter::SegmentationFindings> segmentations;
  std::vector<exporter::ClassificationFinding> classifications;
  for (auto& series : study.series) {
    if (!series.volume) continue;
    const SeriesContext context = ContextOf(series, study);
    const SeriesAnalysis analysis = models_.Finish(context, series.jobs);
    study.failures += analysis.failures;
    segmentations.insert(segmentations.end(), analysis.segmentations.begin(), analysis.segmentations.end());
    classifications.insert(classifications.end(), analysis.classifications.begin(), analysis.classifications.end());
    series.entry["analyses"] = analysis.analyses;
    AddOverlay(context, analysis, series.entry, study.failures);
    series.volume.reset();  // the study's memory goes as soon as its outputs are written
    series.jobs.clear();
  }
  // One measurement report for the study's volumes and classifications, referencing SEGs and images.
  if (models_.Outputs().sr && study.item->study && (!segmentations.empty() || !classifications.empty())) {
    try {
      exporter::WriteMeasurementReport(segmentations, classifications, study.folder->Path() / "sr.dcm");
      study.members["outputs"]["sr"] = "sr.dcm";
    } catch (const std::exception& error) {
      ++study.failures;
      study.members["sr_error"] = error.what();
    }
  }
  FailPoint("study_exported");
  store_.Publish(*study.folder, ResultOf(study));
  return study.failures;
}

nlohmann::json StudyStages::ResultOf(StudyInFlight& study) const {
  nlohmann::json series = nlohmann::json::array();
  for (const auto& one : study.series) series.push_back(one.entry);
  nlohmann::json result = ResultJson(*study.item, study.source, settings_sha256_, models_.ModelsJson(), std::move(series),
                                     study.failures, study.clock.Lap());
  result.update(study.members);
  return result;
}

void StudyStages::PublishFailed(const WorkItem& item, StudyInProgress* in_progress, const std::string& error) const {
  auto* study = static_cast<StudyInFlight*>(in_progress);  // Load made it
  if (!study) return PublishFailedResult(store_, item, FailedResultJson(item, settings_sha256_, ModelsJson(), error));
  ++study->failures;
  study->members["error"] = error;
  PublishFailedResult(store_, item, ResultOf(*study), study->folder.get());
}

}  // namespace medpipe::cli
