#include "model_runner.h"

#include <algorithm>
#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"
#include "medpipe/core/stopwatch.h"
#include "medpipe/export/dicom_seg.h"
#include "medpipe/export/label_descriptions.h"
#include "medpipe/export/rtstruct.h"
#include "medpipe/inference/device.h"
#include "medpipe/inference/explain.h"
#include "medpipe/inference/tensor_image.h"
#include "medpipe/model/decision.h"
#include "medpipe/postprocess/postprocess.h"
#include "medpipe/preprocess/preprocess.h"
#include "medpipe/report/overlay.h"
#include "medpipe/volume_io/nifti_io.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

// Why MANIFEST's model does not read SERIES, or empty when it does.
std::string Mismatch(const model::Manifest& manifest, const SeriesContext& series) {
  const std::string& wanted = manifest.channels.front().modality;
  const std::string& modality = series.modality;
  const Volume& volume = series.volume;
  if (!modality.empty() && modality != wanted) return "model reads " + wanted + ", series is " + modality;
  if (series.source && !model::SelectsSeries(manifest, series.source->series->description))
    return "series description '" + series.source->series->description + "' does not match the model's selector '" +
           manifest.series_description + "'";
  if (volume.channels.size() != manifest.channels.size())
    return "model reads " + std::to_string(manifest.channels.size()) + " channel(s), series has " +
           std::to_string(volume.channels.size());
  const bool single_image = volume.Grid().GetLargestPossibleRegion().GetSize()[2] == 1;
  if (manifest.spatial_dims == 3 && single_image) return "3-D model, series is a single image";
  if (manifest.spatial_dims == 2 && manifest.task == model::Task::Classification && !single_image)
    return "2-D classifier, series is a volume";
  return "";
}

nlohmann::json ReportJson(const inference::PredictReport& report, const inference::LoadedModel& model) {
  nlohmann::json json = {{"timings_ms", {{"h2d", report.h2d_ms}, {"infer", report.infer_ms}, {"stitch", report.stitch_ms}}},
                         {"device", report.device},
                         {"precision", report.precision},
                         {"batch_size", report.batch_size},
                         {"patches", report.patches},
                         {"fallbacks", report.fallbacks}};
  if (!model.PrecisionNote().empty()) json["precision_note"] = model.PrecisionNote();
  return json;
}

std::string Fixed(double value, int digits) {
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(digits);
  text << value;
  return text.str();
}

// The label map decided in model space -> labels on the source grid, cleaned as the manifest says.
LabelImage::Pointer LabelsOnSourceGrid(const model::Manifest& manifest, const torch::Tensor& label_map,
                                       const Image3D& model_grid, const Image3D& source_grid) {
  auto labels = preprocess::MapBackLabels(*inference::TensorToLabelImage(label_map, model_grid), source_grid);
  postprocess::Clean(*labels, manifest.postprocessing, manifest.labels);
  return labels;
}

// Each label's measures, shape and (for greyscale series) the series' values under it: HU for CT.
nlohmann::json MeasuresJson(const LabelImage& labels, const model::Manifest& manifest, const SeriesContext& series) {
  const Image3D* intensities = series.volume.IsColor() ? nullptr : &series.volume.Grid();
  nlohmann::json json = nlohmann::json::array();
  for (const auto& measure : postprocess::Measure(labels, manifest.labels, intensities)) {
    nlohmann::json& label = json.emplace_back(nlohmann::json{{"value", measure.value},
                                                             {"name", measure.name},
                                                             {"voxels", measure.voxels},
                                                             {"volume_ml", measure.volume_ml},
                                                             {"components", measure.components}});
    if (const auto& shape = measure.shape) {
      label.update({{"surface_mm2", shape->surface_mm2},
                    {"sphericity", shape->sphericity},
                    {"centroid_mm", shape->centroid_mm},
                    {"bounding_box", {{"first_voxel", shape->first_voxel}, {"last_voxel", shape->last_voxel}}}});
    }
    if (const auto& values = measure.intensity) {
      label["intensity"] = {{"unit", series.modality == "CT" ? "HU" : ""},
                            {"mean", values->mean}, {"std", values->std},  {"min", values->min},
                            {"max", values->max},   {"p5", values->p5},    {"p25", values->p25},
                            {"median", values->median}, {"p75", values->p75}, {"p95", values->p95}};
    }
  }
  return json;
}

// A classifier's heat map [H, W] on its input's grid MODEL_GRID -> SOURCE_GRID, values kept in 0..1.
Image3D::Pointer HeatmapOnSourceGrid(const torch::Tensor& heatmap, const Image3D& model_grid, const Image3D& source_grid) {
  auto on_model_grid = MakeImage(model_grid.GetLargestPossibleRegion().GetSize(), model_grid.GetSpacing(),
                                 model_grid.GetOrigin(), model_grid.GetDirection());
  const auto values = heatmap.contiguous();
  std::copy_n(values.data_ptr<float>(), values.numel(), on_model_grid->GetBufferPointer());
  return preprocess::MapBack(*on_model_grid, source_grid);
}

std::vector<double> ProbabilitiesOf(const torch::Tensor& probabilities) {
  const auto values = probabilities.to(torch::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

// The class a classifier's heat map explains: the decided class (the evidence a reader weighs).
int64_t ExplainedClass(const model::Manifest& manifest, const torch::Tensor& probabilities) {
  return model::DecidedClass(manifest, model::Decide(manifest, ProbabilitiesOf(probabilities)));
}

// Each label's colour and volume for an overlay's legend.
std::vector<report::LegendEntry> Legend(const model::Manifest& manifest, const nlohmann::json& measures) {
  std::vector<report::LegendEntry> legend;
  for (size_t i = 0; i < manifest.labels.size(); ++i) {
    const auto& label = manifest.labels[i];
    legend.push_back({label.value, label.name, label.colour, Fixed(measures[i]["volume_ml"], 2) + " mL"});
  }
  return legend;
}

// Whether DICOM objects (SEG, RTSTRUCT, SR) can reference the series' images: DICOM input with valid UIDs.
bool Referenceable(const SeriesContext& series) { return series.source && series.source->series->unreferenceable.empty(); }

// The model as the SR identifies it.
exporter::ModelIdentity IdentityOf(const model::Manifest& manifest) {
  return {manifest.name, manifest.version, manifest.sha256};
}

// The SR's view of one label's measures in result.json: its volume and mean intensity.
exporter::SegmentVolume SegmentVolumeOf(int segment_number, const model::Label& label, const nlohmann::json& measure,
                                        const std::string& modality) {
  exporter::SegmentVolume segment{segment_number, label, measure.at("volume_ml"), std::nullopt};
  if (measure.contains("intensity")) segment.mean = exporter::MeanIntensity{measure["intensity"].at("mean"), modality == "CT"};
  return segment;
}

}  // namespace

ModelRunner::ModelRunner(RunSettings settings) : settings_(std::move(settings)) {
  if (!settings_.models.empty()) {
    const torch::Device device = inference::ParseDevice(settings_.device);
    for (const auto& directory : settings_.models)
      models_.push_back(inference::LoadedModel::Load(directory, device, settings_.precision));
  }
  if (settings_.outputs.features) CheckFeatures();
}

void ModelRunner::CheckFeatures() const {
  constexpr const char* kOption = "--output-types features";
  if (models_.empty()) throw ConfigError(kOption, "needs a --model whose model.pt has forward_features(x)");
  std::string without;
  for (const auto& model : models_)
    if (!model.HasFeatures())
      without += (without.empty() ? "'" : ", '") + model.Manifest().name + "' (" + model.Manifest().directory.string() + ")";
  if (without.empty()) return;
  const std::string reason = "no embedding from " + without + ": model.pt has no forward_features(x) method";
  if (std::none_of(models_.begin(), models_.end(), [](const auto& model) { return model.HasFeatures(); }))
    throw ConfigError(kOption, reason + "; give a model that has one, or leave features out");
  Log(LogLevel::Warning, std::string(kOption) + ": " + reason);
}

nlohmann::json ModelRunner::ModelsJson() const {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& model : models_) {
    const auto& m = model.Manifest();
    json.push_back({{"name", m.name},
                    {"version", m.version},
                    {"task", model::TaskName(m.task)},
                    {"sha256", m.sha256},
                    {"device", model.Device().str()},
                    {"precision", inference::PrecisionName(model.ActivePrecision())}});
  }
  return json;
}

nlohmann::json ModelRunner::SettingsJson() const {
  std::vector<ModelDigest> digests;
  for (const auto& model : models_)
    digests.push_back({model.Manifest().name, model.Manifest().sha256, inference::PrecisionName(model.ActivePrecision())});
  return cli::SettingsJson(settings_, digests);
}

std::vector<ModelJob> ModelRunner::Prepare(const SeriesContext& series) {
  std::vector<ModelJob> jobs;
  for (auto& model : models_) {
    const auto& manifest = model.Manifest();
    ModelJob job;
    job.model = &model;
    job.entry = {{"model", manifest.name}, {"version", manifest.version}, {"task", model::TaskName(manifest.task)}};
    const std::string mismatch = Mismatch(manifest, series);
    if (!mismatch.empty()) {
      job.entry["skipped"] = mismatch;
    } else {
      try {
        Stopwatch stopwatch;
        job.prepared = preprocess::Prepare(series.volume, preprocess::SpecFor(manifest));
        job.entry["timings_ms"]["resample"] = stopwatch.Lap();
      } catch (const std::exception& error) {
        job.entry["error"] = error.what();
      }
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

void ModelRunner::Infer(ModelJob& job) const {
  if (!job.prepared) return;
  try {
    inference::PredictReport report;
    const auto input = inference::VolumeToTensor(*job.prepared);
    job.output = inference::Predict(*job.model, input, settings_.predict, report);
    job.entry.merge_patch(ReportJson(report, *job.model));
    const auto& manifest = job.model->Manifest();
    if (settings_.outputs.features && job.model->HasFeatures()) {
      Stopwatch clock;
      const auto embedding = inference::Embed(*job.model, input).contiguous();
      job.entry["embedding"] = std::vector<float>(embedding.data_ptr<float>(), embedding.data_ptr<float>() + embedding.numel());
      job.entry["timings_ms"]["embed"] = clock.Lap();
    }
    if (manifest.task == model::Task::Classification && manifest.spatial_dims == 2) {
      Stopwatch clock;
      const int64_t explained = ExplainedClass(manifest, job.output);
      const auto explanation = inference::Explain(*job.model, input, explained);
      job.heatmap = explanation.heatmap;
      job.entry["explanation"] = {{"method", explanation.method}, {"class", manifest.labels[explained].name}};
      job.entry["timings_ms"]["explain"] = clock.Lap();
    }
  } catch (const std::exception& error) {
    job.entry["error"] = error.what();
    job.prepared.reset();
  }
}

SeriesAnalysis ModelRunner::Finish(const SeriesContext& series, std::vector<ModelJob>& jobs) const {
  SeriesAnalysis analysis;
  for (auto& job : jobs) {
    nlohmann::json& entry = job.entry;
    if (entry.contains("error")) ++analysis.failures;
    if (!job.prepared) {
      analysis.entries.push_back(entry);
      continue;
    }
    const auto& manifest = job.model->Manifest();
    try {
      Stopwatch stopwatch;
      nlohmann::json& timings = entry["timings_ms"];
      if (manifest.task == model::Task::Segmentation) {
        const auto labels = LabelsOnSourceGrid(manifest, job.output, job.prepared->Grid(), series.volume.Grid());
        entry["labels"] = MeasuresJson(*labels, manifest, series);
        timings["post"] = stopwatch.Lap();
        entry["outputs"] = WriteSegmentationOutputs(*labels, manifest, series, entry["labels"], analysis);
        const std::string overlay = series.stem + "_" + manifest.name + ".png";
        report::WriteVolumeOverlay(series.volume.Grid(), labels.GetPointer(), Legend(manifest, entry["labels"]), series.modality,
                                   series.folder / overlay);
        entry["outputs"]["overlay"] = overlay;
        timings["write"] = stopwatch.Lap();
      } else {
        const Decision decision = model::Decide(manifest, ProbabilitiesOf(job.output));
        for (const auto& label : manifest.labels) entry["probabilities"][label.name] = job.output[label.value].item<double>();
        entry["decision"] = decision;
        analysis.findings.push_back(manifest.name + ": " + DecisionText(decision));
        if (job.heatmap.defined()) {
          const auto heatmap = HeatmapOnSourceGrid(job.heatmap, job.prepared->Grid(), series.volume.Grid());
          const std::string name = series.stem + "_" + manifest.name + "_heatmap.png";
          report::WriteHeatmapPng(*heatmap, series.folder / name);
          entry["outputs"]["heatmap"] = name;
          if (!analysis.heatmap) analysis.heatmap = heatmap;
        }
        if (Referenceable(series)) {
          const model::Code& code = manifest.labels[model::DecidedClass(manifest, decision)].type;
          analysis.classifications.push_back({IdentityOf(manifest), series.source, decision, code});
        }
        timings["post"] = stopwatch.Lap();
      }
    } catch (const std::exception& error) {
      ++analysis.failures;
      entry["error"] = error.what();
    }
    analysis.entries.push_back(entry);
  }
  return analysis;
}

std::string WriteSeriesOverlay(const SeriesContext& series, const SeriesAnalysis& analysis) {
  for (const auto& entry : analysis.entries)
    if (entry.contains("outputs") && entry["outputs"].contains("overlay")) return entry["outputs"]["overlay"];
  const std::string name = series.stem + ".png";
  const Image3D& image = series.volume.Grid();
  if (image.GetLargestPossibleRegion().GetSize()[2] == 1) {
    report::WriteXrayOverlay(image, analysis.findings, analysis.heatmap.GetPointer(), series.folder / name);
  } else {
    report::WriteVolumeOverlay(image, nullptr, {}, series.modality, series.folder / name);
  }
  return name;
}

nlohmann::json ModelRunner::WriteSegmentationOutputs(const LabelImage& labels, const model::Manifest& manifest,
                                                     const SeriesContext& series, const nlohmann::json& measures,
                                                     SeriesAnalysis& analysis) const {
  // Each file is read back and must put every label where the mask in memory has it.
  const std::string stem = series.stem + "_" + manifest.name;
  nlohmann::json outputs = nlohmann::json::object();
  if (settings_.outputs.nifti) {
    const std::string name = stem + ".nii.gz";
    WriteLabelNifti(labels, series.folder / name);
    exporter::CheckSameGeometry(labels, *ReadLabelNifti(series.folder / name), manifest.labels, name);
    outputs["nifti"] = name;
    const auto descriptions = exporter::WriteLabelDescriptions(manifest.labels, series.folder / name);
    outputs["nifti_labels"] = descriptions.json.filename().string();
    outputs["itksnap_labels"] = descriptions.itksnap.filename().string();
  }
  if ((settings_.outputs.seg || settings_.outputs.rtstruct) && series.source && !Referenceable(series))
    outputs["dicom_skipped"] = series.source->series->unreferenceable;
  if (settings_.outputs.seg && Referenceable(series)) {
    const std::string name = stem + "_seg.dcm";
    const auto seg =
        exporter::WriteDicomSeg(labels, manifest.labels, *series.source, {manifest.name, manifest.version}, series.folder / name);
    exporter::CheckSameGeometry(labels, *exporter::ReadDicomSeg(series.folder / name, labels, manifest.labels),
                                manifest.labels, name);
    outputs["seg"] = name;
    exporter::SegmentationFindings findings{seg.sop_instance_uid, seg.series_instance_uid, IdentityOf(manifest),
                                            series.source, {}};
    for (size_t i = 0; i < manifest.labels.size(); ++i)
      findings.segments.push_back(SegmentVolumeOf(static_cast<int>(i + 1), manifest.labels[i], measures[i], series.modality));
    analysis.segmentations.push_back(findings);
  }
  if (settings_.outputs.rtstruct && Referenceable(series)) {
    const std::string name = stem + "_rtstruct.dcm";
    exporter::WriteRtStruct(labels, manifest.labels, *series.source, manifest.name, series.folder / name);
    exporter::CheckSameGeometry(labels, *exporter::ReadRtStruct(series.folder / name, labels), manifest.labels, name);
    outputs["rtstruct"] = name;
  }
  return outputs;
}

}  // namespace medpipe::cli
