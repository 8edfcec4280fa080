#include "stages/write_masks.h"

#include "medpipe/export/dicom_seg.h"
#include "medpipe/export/label_descriptions.h"
#include "medpipe/export/rtstruct.h"
#include "medpipe/volume_io/nifti_io.h"

namespace medpipe::cli {
namespace {

void WriteNifti(const LabelImage& labels, const model::Manifest& manifest, const SeriesContext& series,
                const std::string& stem, std::map<std::string, std::string>& outputs) {
  const std::string name = stem + ".nii.gz";
  WriteLabelNifti(labels, series.folder / name);
  exporter::CheckSameGeometry(labels, *ReadLabelNifti(series.folder / name), manifest.labels, name);
  outputs["nifti"] = name;
  const auto descriptions = exporter::WriteLabelDescriptions(manifest.labels, series.folder / name);
  outputs["nifti_labels"] = descriptions.json.filename().string();
  outputs["itksnap_labels"] = descriptions.itksnap.filename().string();
}

// The SR's view of one label: its volume and, for greyscale series, its mean intensity.
exporter::SegmentVolume SegmentVolumeOf(int segment_number, const model::Label& label, const LabelResult& measure,
                                        const std::string& modality) {
  exporter::SegmentVolume segment{segment_number, label, measure.volume_ml, std::nullopt};
  if (measure.json.contains("intensity"))
    segment.mean = exporter::MeanIntensity{measure.json["intensity"].at("mean"), modality == "CT"};
  return segment;
}

exporter::SegmentationFindings WriteSeg(const LabelImage& labels, const model::Manifest& manifest,
                                        const SeriesContext& series, const std::vector<LabelResult>& measures,
                                        const std::string& stem, std::map<std::string, std::string>& outputs) {
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
  return findings;
}

void WriteRtStruct(const LabelImage& labels, const model::Manifest& manifest, const SeriesContext& series,
                   const std::string& stem, std::map<std::string, std::string>& outputs) {
  const std::string name = stem + "_rtstruct.dcm";
  exporter::WriteRtStruct(labels, manifest.labels, *series.source, manifest.name, series.folder / name);
  exporter::CheckSameGeometry(labels, *exporter::ReadRtStruct(series.folder / name, labels), manifest.labels, name);
  outputs["rtstruct"] = name;
}

}  // namespace

MaskFiles WriteMasks(const LabelImage& labels, const model::Manifest& manifest, const SeriesContext& series,
                     const std::vector<LabelResult>& measures, const OutputTypes& outputs) {
  const std::string stem = series.stem + "_" + manifest.name;
  MaskFiles files;
  if (outputs.nifti) WriteNifti(labels, manifest, series, stem, files.outputs);
  if ((outputs.seg || outputs.rtstruct) && series.source && !series.Referenceable())
    files.outputs["dicom_skipped"] = series.source->series->unreferenceable;
  if (!series.Referenceable()) return files;
  if (outputs.seg) files.seg = WriteSeg(labels, manifest, series, measures, stem, files.outputs);
  if (outputs.rtstruct) WriteRtStruct(labels, manifest, series, stem, files.outputs);
  return files;
}

}  // namespace medpipe::cli
