#include "medpipe/core/problem_code.h"

#include <algorithm>

namespace medpipe {

const std::vector<ProblemCodeInfo>& ProblemCodes() {
  static const std::vector<ProblemCodeInfo> table = {
      {ProblemCode::UnevenSliceSpacing, "uneven_slice_spacing", ProblemEffect::Handled, ErrorKind::Dicom,
       "slice gaps vary; the volume is resampled to equal spacing (the smallest gap, at most 2x the slices), as "
       "dcm2niix's _Eq",
       "nothing, unless the gaps are not meant: check the series for missing or repeated slices"},
      {ProblemCode::GantryTilt, "gantry_tilt", ProblemEffect::Handled, ErrorKind::Dicom,
       "slices are sheared by a gantry tilt; the volume is resampled onto an orthogonal grid, as dcm2niix's _Tilt "
       "(refused instead with --refuse-gantry-tilt)",
       "nothing; run without --refuse-gantry-tilt if it was refused"},
      {ProblemCode::MissingSlices, "missing_slices", ProblemEffect::Refused, ErrorKind::Dicom,
       "a gap between slices is a whole multiple of the spacing: slices are missing",
       "retrieve the whole series again from the PACS"},
      {ProblemCode::NotAVolume, "not_a_volume", ProblemEffect::Refused, ErrorKind::Dicom,
       "slices share a position along the normal, or frames lack position or orientation",
       "check whether the series holds several volumes (4-D, echoes) or lacks geometry"},
      {ProblemCode::Localizer, "localizer", ProblemEffect::LeftOut, ErrorKind::Dicom,
       "a scout or topogram image, left out of volumes by design", "nothing"},
      {ProblemCode::SecondaryCapture, "secondary_capture", ProblemEffect::LeftOut, ErrorKind::Dicom,
       "a screenshot or derived picture without patient geometry, left out of volumes by design", "nothing"},
      {ProblemCode::NonImage, "non_image", ProblemEffect::LeftOut, ErrorKind::Dicom,
       "an object without pixel data (SR, KO, PR, ...), left out by design", "nothing"},
      {ProblemCode::AssumedGeometry, "assumed_geometry", ProblemEffect::Handled, ErrorKind::Dicom,
       "the image lacks its position, orientation or pixel spacing; it is written with origin 0, identity "
       "orientation or 1 mm pixels in their place, so it does not lie where the patient was",
       "use it only where placement does not matter (a projection X-ray), or restore the attributes from the source"},
      {ProblemCode::FourDSeries, "four_d_series", ProblemEffect::Handled, ErrorKind::Dicom,
       "slices repeat at the same positions (fMRI, diffusion, perfusion, ASL, cine): they are grouped into volumes "
       "on one grid, ordered at each position by TemporalPositionIdentifier/Index, AcquisitionNumber, TriggerTime, "
       "InstanceNumber, then frame order (the detail names the keys that differed); convert writes one 4-D NIfTI, "
       "a 3-D model reads volume 0 unless its manifest's input.volume says otherwise",
       "nothing; check the volume count and order in the sidecar's volume axis"},
      {ProblemCode::PrivateDiffusionTags, "private_diffusion_tags", ProblemEffect::Handled, ErrorKind::Dicom,
       "b-values and gradients come from a vendor's private elements (GE (0043,1039) and (0019,10BB-10BD), taken "
       "along row, column and slice as dcm2niix and dicom2nifti do; Siemens (0019,100C) and (0019,100E) in LPS; "
       "Philips (2001,1003) and (2005,10B0-10B2) in LPS, per frame inside (2005,140F) in enhanced files), not from (0018,9087) and (0018,9089)",
       "check the .bvec against a known acquisition (dcm2niix, or a tensor fit's principal direction)"},
      {ProblemCode::EchoOrComponentSplit, "echo_or_component_split", ProblemEffect::Handled, ErrorKind::Dicom,
       "one series holds several echoes or complex components (magnitude, phase, real, imaginary: ImageType's "
       "third or fourth value, (0008,9208) ComplexImageComponent, GE (0043,102F), per-frame MREchoSequence); it is "
       "split into one volume per echo and component, and the detail says which this one is",
       "nothing; pick the part you need by its echo time and component"},
      {ProblemCode::PhilipsFloatScaling, "philips_float_scaling", ProblemEffect::Handled, ErrorKind::Dicom,
       "--philips-scaling float: Philips voxels are the precise floating-point value (stored / (2005,100E) "
       "ScaleSlope, dcm2niix's default) instead of the DICOM display value (stored x RescaleSlope + intercept)",
       "nothing; use --philips-scaling display (the default) for the DICOM convention"},
  };
  return table;
}

const ProblemCodeInfo& InfoOf(ProblemCode code) {
  const auto& table = ProblemCodes();
  return *std::find_if(table.begin(), table.end(), [&](const ProblemCodeInfo& info) { return info.code == code; });
}

std::optional<ProblemCode> ProblemCodeNamed(const std::string& name) {
  for (const ProblemCodeInfo& info : ProblemCodes())
    if (name == info.name) return info.code;
  return std::nullopt;
}

std::string ProblemText(ProblemCode code, const std::string& detail) { return std::string(InfoOf(code).name) + ": " + detail; }

Disposition DispositionOf(bool loaded, const std::vector<Problem>& problems) {
  if (loaded) return Disposition::Accepted;
  const bool left_out = std::any_of(problems.begin(), problems.end(), [](const Problem& problem) {
    const auto code = ProblemCodeNamed(problem.code);
    return code && InfoOf(*code).effect == ProblemEffect::LeftOut;
  });
  return left_out ? Disposition::SkippedByDesign : Disposition::Refused;
}

Failure RefusalFailure(const std::string& refusal, const std::string& where) {
  const Problem problem = ParseProblem(refusal);
  const auto code = ProblemCodeNamed(problem.code);
  return {problem.code, code ? InfoOf(*code).kind : ErrorKind::Dicom, where, refusal};
}

std::string ProblemCodesMarkdown() {
  static const char* kEffects[] = {"handled", "left out by design", "refused"};
  std::string text =
      "# Problem codes\n\n"
      "What medpipe records about a series (`problems` in `result.json`, the index of `medpipe scan` and the\n"
      "sidecars of `medpipe convert`), as `code: detail`. Made by `medpipe codes` from the table in\n"
      "`modules/core/src/problem_code.cpp`; a test keeps this file equal to it.\n\n"
      "| code | effect | kind | meaning | what to do |\n|---|---|---|---|---|\n";
  for (const ProblemCodeInfo& info : ProblemCodes()) {
    text += std::string("| `") + info.name + "` | " + kEffects[static_cast<int>(info.effect)] + " | " +
            ErrorKindName(info.kind) + " | " + info.meaning + " | " + info.fix + " |\n";
  }
  return text;
}

}  // namespace medpipe
