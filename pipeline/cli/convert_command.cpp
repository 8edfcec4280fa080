#include <algorithm>
#include <iostream>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "medpipe/core/error.h"
#include "medpipe/core/json_text.h"
#include "medpipe/dicom/diffusion_table.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/volume_io/nifti_io.h"
#include "stages/series_walk.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

// A BIDS-style sidecar like dcm2niix's, from header fields that carry no patient identity.
nlohmann::json Sidecar(const dicom::Series& series) {
  const dicom::FileHeader& first = series.files.front();
  nlohmann::json json = dicom::SeriesToJson(series);
  json["Modality"] = first.modality;
  json["Manufacturer"] = first.manufacturer;
  json["BodyPartExamined"] = first.body_part;
  json["PatientPosition"] = first.patient_position;
  json["SeriesNumber"] = first.series_number;
  json["ImageType"] = first.image_type;
  if (first.slice_thickness) json["SliceThickness"] = *first.slice_thickness;
  const dicom::FrameInfo& first_frame = series.VolumeFrame(0);
  if (first_frame.echo_time) json["EchoTime"] = *first_frame.echo_time / 1000.0;  // BIDS uses seconds
  if (first.echo_number) json["EchoNumber"] = first.echo_number;
  if (!first_frame.component.empty()) json["ImageComponent"] = first_frame.component;
  if (first.frames.front().orientation) json["ImageOrientationPatientDICOM"] = *first.frames.front().orientation;
  if (first.window_center) json["WindowCenter"] = *first.window_center;
  if (first.window_width) json["WindowWidth"] = *first.window_width;
  if (first.philips_scale_slope) {
    json["PhilipsRescaleSlope"] = first.philips_rescale_slope;
    json["PhilipsScaleSlope"] = *first.philips_scale_slope;
    const bool as_float = std::any_of(series.problems.begin(), series.problems.end(),
                                      [](const std::string& p) { return p.rfind("philips_float_scaling:", 0) == 0; });
    json["UsePhilipsFloatNotDisplayScaling"] = as_float ? 1 : 0;
  }
  if (first_frame.real_world_slope) {  // as dcm2niix: recorded, not applied
    json["PhilipsRWVSlope"] = *first_frame.real_world_slope;
    json["PhilipsRWVIntercept"] = first_frame.real_world_intercept.value_or(0.0);
  }
  if (first.repetition_time) json["RepetitionTime"] = *first.repetition_time / 1000.0;
  if (series.VolumeCount() > 1) {
    nlohmann::json axis = nlohmann::json::array();
    for (size_t v = 0; v < series.VolumeCount(); ++v) {
      const dicom::SliceRef& slice = series.VolumeSlices(v).front();
      const dicom::FileHeader& file = series.files[slice.file];
      const dicom::FrameInfo& frame = file.frames[slice.frame];
      nlohmann::json entry = {{"Volume", v}, {"AcquisitionNumber", file.acquisition_number}, {"InstanceNumber", file.instance_number}};
      if (frame.temporal_position) entry["TemporalPosition"] = *frame.temporal_position;
      if (frame.trigger_time) entry["TriggerTime"] = *frame.trigger_time / 1000.0;
      if (frame.echo_time) entry["EchoTime"] = *frame.echo_time / 1000.0;
      if (frame.b_value) entry["BValue"] = *frame.b_value;
      axis.push_back(entry);
    }
    json["VolumeCount"] = series.VolumeCount();
    json["VolumeAxis"] = axis;
  }
  json["ConversionSoftware"] = "medpipe";
  json["ConversionSoftwareVersion"] = MEDPIPE_VERSION;
  return json;
}

}  // namespace

int ConvertCommand(const std::vector<std::string>& args) {
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseArchiveToOutdir(args, "convert", "output folder: OUT/<study-id>/<series-number>_<series-id>.nii.gz", "", vm, exit_code)) return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();

  const auto index = IndexArchive(vm);
  for (const auto& problem : index.problems) std::cerr << "skipped " << problem.path << ": " << problem.reason << "\n";
  SeriesDecoder decoder(1, DecodeLimitsOf(vm));
  size_t written = 0, failures = 0;
  for (const auto& study : index.studies) {
    failures += ForEachSeries(
        study, decoder,
        [&](const dicom::Series& series, DecodedSeries& decoded) {
          const Volume& volume = decoded.volume;
          const fs::path folder = outdir / study.id;
          fs::create_directories(folder);
          const std::string stem = SeriesStem(series);
          if (series.VolumeCount() > 1) {
            std::vector<Volume> volumes{volume};
            for (size_t v = 1; v < series.VolumeCount(); ++v) volumes.push_back(decoder.Decode(series, v).volume);
            const auto& tr = series.files.front().repetition_time;
            WriteNifti4D(volumes, folder / (stem + ".nii.gz"), tr ? *tr / 1000.0 : 0.0);
            if (const auto table = dicom::DiffusionTable(series, volume.Grid().GetDirection())) {
              WriteFileAtomically(folder / (stem + ".bval"), table->bval);
              WriteFileAtomically(folder / (stem + ".bvec"), table->bvec);
            }
          } else {
            WriteNifti(volume, folder / (stem + ".nii.gz"));
          }
          WriteFileAtomically(folder / (stem + ".json"), JsonText(Sidecar(series)) + "\n");
          std::cout << (folder / (stem + ".nii.gz")).string() << "\n";
          ++written;
        },
        [&](const dicom::Series& series, const Failure& failure) {
          std::cerr << "series " << series.id << " not converted: " << failure.message << "\n";
        });
  }
  std::cerr << "converted " << written << " series, " << failures << " failed\n";
  return failures ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
