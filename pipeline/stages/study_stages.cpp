#include "stages/study_stages.h"

#include "batch/resume.h"
#include "medpipe/core/deidentification.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/report/review_copy.h"
#include "medpipe/volume_io/nifti_io.h"
#include "stages/deidentify.h"
#include "stages/select_models.h"
#include "stages/series_walk.h"

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
void AddOverlay(const SeriesContext& context, const SeriesAnalysis& analysis, SeriesResult& result, size_t& failures) {
  try {
    Stopwatch clock;
    result.overlay = WriteSeriesOverlay(context, analysis);
    result.json["timings_ms"]["overlay"] = clock.Lap();
  } catch (const std::exception& error) {
    ++failures;
    result.json["overlay_error"] = error.what();
  }
}

// The copy of a segmented series' volume, or of an X-ray a model read, that the study page's viewer
// shows (report/review_copy.h); a failure to write it is recorded, not fatal to the study.
void AddReviewImage(const SeriesContext& context, const SeriesAnalysis& analysis, SeriesResult& result, size_t& failures) {
  const bool segmented = std::any_of(analysis.analyses.begin(), analysis.analyses.end(),
                                     [](const Analysis& one) { return one.outputs.count("nifti") > 0; });
  const bool read_xray = context.volume.Grid().GetLargestPossibleRegion().GetSize()[2] == 1 &&
                         std::any_of(analysis.analyses.begin(), analysis.analyses.end(),
                                     [](const Analysis& one) { return one.outcome == Outcome::Ok; });
  if (!segmented && !read_xray) return;
  try {
    const std::string name = context.stem + "_review.nii.gz";
    report::WriteReviewImage(context.volume.Grid(), context.folder / name);
    result.review_image = name;
  } catch (const std::exception& error) {
    ++failures;
    result.json["review_image_error"] = error.what();
  }
}

// SOURCE's entry before its volume is loaded: the index's account of it (files, problems, geometry).
SeriesResult IndexedSeries(const dicom::Series& source, bool loaded) {
  nlohmann::json entry = dicom::SeriesToJson(source);
  entry.update({{"loaded", loaded}, {"analyses", nlohmann::json::array()}});
  return entry.get<SeriesResult>();
}

// How a reviewer knows the study (date, accession number, description), from the first series that
// loads; read before de-identification, which then removes them.
void AddStudyLabels(const dicom::SourceSeries& source, StudyResult& result) {
  if (!result.study_date.empty() || !result.accession_number.empty() || !result.study_description.empty()) return;
  const dicom::StudyLabels labels = dicom::StudyLabelsOf(source);
  result.study_date = labels.date;
  result.accession_number = labels.accession_number;
  result.study_description = labels.description;
}

void RecordFailure(SeriesResult& result, const Failure& failure) {
  result.error = failure.message;
  result.failure = failure;
}

SeriesContext ContextOf(const SeriesInFlight& series, const StudyInFlight& study) {
  return {*series.volume, series.modality, series.source.series ? &series.source : nullptr, study.folder->Path(),
          series.stem};
}

}  // namespace

StudyStages::StudyStages(ModelRunner& models, SeriesDecoder& decoder, const ResultStore& store, StudyOptions options)
    : models_(models),
      decoder_(decoder),
      store_(store),
      settings_sha256_(Sha256Hex(models.SettingsJson().dump())),
      options_(options) {}

bool StudyStages::Complete(const WorkItem& item, const nlohmann::json& source) const {
  return !options_.force && store_.IsComplete(item.id, source, settings_sha256_);
}

bool StudyStages::AlreadyComplete(const WorkItem& item) const { return Complete(item, SourceJson(item)); }

std::unique_ptr<StudyInProgress> StudyStages::Load(const WorkItem& item) {
  auto study = std::make_unique<StudyInFlight>();
  study->item = &item;
  study->source = SourceJson(item);
  if (Complete(item, study->source)) return nullptr;
  study->result = NewStudyResult(item, study->source, settings_sha256_, models_.ModelsJson());
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
  const std::vector<model::Manifest> manifests = models_.Manifests();
  VolumeChoice choice;  // made by the pick below, before the same series is decoded and loaded
  study.failures += ForEachSeries(
      *study.item->study, decoder_,
      [&](const dicom::Series& source, DecodedSeries& decoded) {
        SeriesInFlight& series = study.series.emplace_back();
        series.source = {&source, std::move(decoded.header), choice.index};
        series.modality = source.modality;
        series.stem = SeriesStem(source);
        series.volume = std::move(decoded.volume);
        series.result = IndexedSeries(source, true);
        series.result.json.update({{"volume", LoadedVolumeJson(*series.volume)},
                                   {"timings_ms",
                                    {{"decode", decoded.timings.decode_ms},
                                     {"assemble", decoded.timings.assemble_ms},
                                     {"handover", decoded.handover_ms}}}});
        // A 4-D series (fMRI, diffusion): the volume the models' input.volume rule picked.
        if (source.VolumeCount() > 1) {
          nlohmann::json& volume = series.result.json["volume"];
          volume.update({{"volume_index", choice.index}, {"volume_count", source.VolumeCount()}, {"volume_rule", choice.rule}});
          if (!choice.model.empty()) volume["volume_rule_model"] = choice.model;
          if (const auto b_value = source.VolumeFrame(choice.index).b_value) volume["b_value"] = *b_value;
        }
        AddStudyLabels(series.source, study.result);
        if (options_.deidentify) DeidentifySource(series.source, series.deidentified);
        Prepare(study, series);
      },
      [&](const dicom::Series& source, const Failure& failure) {
        SeriesInFlight& series = study.series.emplace_back();
        series.source.series = &source;
        series.result = IndexedSeries(source, false);
        RecordFailure(series.result, failure);
      },
      [&](const dicom::Series& source) {
        choice = ChooseVolume(source, manifests);
        return choice.index;
      });
}

// A NIfTI file: a study of one series, which any model may read (no modality to check).
void StudyStages::LoadNifti(StudyInFlight& study) {
  SeriesInFlight& series = study.series.emplace_back();
  series.stem = "nifti";
  series.result.id = "nifti";
  series.result.json = {{"kind", "nifti"}};
  try {
    Stopwatch clock;
    series.volume = Volume{{ReadNifti(study.item->nifti)}};
    series.result.json.update({{"volume", LoadedVolumeJson(*series.volume)}, {"timings_ms", {{"decode", clock.Lap()}}}});
    Prepare(study, series);
  } catch (const std::exception& error) {
    ++study.failures;
    series.result.disposition = Disposition::Refused;
    RecordFailure(series.result, FailureOf(error));
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
    series.result.analyses = analysis.analyses;
    AddOverlay(context, analysis, series.result, study.failures);
    AddReviewImage(context, analysis, series.result, study.failures);
    series.volume.reset();  // the study's memory goes as soon as its outputs are written
    series.jobs.clear();
  }
  // One measurement report for the study's volumes and classifications, referencing SEGs and images.
  if (models_.Outputs().sr && study.item->study && (!segmentations.empty() || !classifications.empty())) {
    try {
      exporter::WriteMeasurementReport(segmentations, classifications, study.folder->Path() / "sr.dcm");
      study.result.outputs["sr"] = "sr.dcm";
    } catch (const std::exception& error) {
      ++study.failures;
      study.result.sr_error = error.what();
    }
  }
  FailPoint("study_exported");
  store_.Publish(*study.folder, ResultOf(study));
  return study.failures;
}

StudyResult StudyStages::ResultOf(StudyInFlight& study) const {
  StudyResult result = study.result;
  for (const auto& one : study.series) result.series.push_back(one.result);
  if (study.failures) result.ok = false;
  result.json["timings_ms"]["total"] = study.clock.Lap();
  if (options_.deidentify) Deidentify(result);
  return result;
}

void StudyStages::PublishFailed(const WorkItem& item, StudyInProgress* in_progress, const Failure& failure) const {
  auto* study = static_cast<StudyInFlight*>(in_progress);  // Load made it
  if (!study) {
    StudyResult result = FailedStudyResult(item, settings_sha256_, ModelsJson(), failure);
    if (options_.deidentify) Deidentify(result);
    return PublishFailedResult(store_, item, result);
  }
  ++study->failures;
  Fail(study->result, failure);
  PublishFailedResult(store_, item, ResultOf(*study), study->folder.get());
}

}  // namespace medpipe::cli
