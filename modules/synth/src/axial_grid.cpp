#include "axial_grid.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>

#include <sstream>
#include <string>

#include "medpipe/core/error.h"
#include "series_header.h"

namespace medpipe::synth {

namespace {

void RequirePositive(const char* key, double value) {
  if (value > 0) return;
  std::ostringstream reason;
  reason << "must be greater than 0, got " << value;
  throw ConfigError(key, reason.str());
}

// Decimal strings of at most 16 characters, as the DS value representation requires.
std::string DecimalString(double value) {
  std::ostringstream text;
  text.precision(10);
  text << value;
  return text.str();
}

}  // namespace

AxialGrid::AxialGrid(const VolumeSpec& spec) : spec_(spec) {
  RequirePositive("VolumeSpec.columns", spec.columns);
  RequirePositive("VolumeSpec.rows", spec.rows);
  RequirePositive("VolumeSpec.slices", spec.slices);
  RequirePositive("VolumeSpec.spacing_mm[0]", spec.spacing_mm[0]);
  RequirePositive("VolumeSpec.spacing_mm[1]", spec.spacing_mm[1]);
  RequirePositive("VolumeSpec.spacing_mm[2]", spec.spacing_mm[2]);
}

void AxialGrid::PutSlicePlane(DcmItem& item, int slice) const {
  const std::string z = DecimalString(Z(slice));
  PutString(item, DCM_ImagePositionPatient, DecimalString(X(0)) + "\\" + DecimalString(Y(0)) + "\\" + z);
  PutString(item, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  // PixelSpacing is row spacing (y) first, then column spacing (x).
  PutString(item, DCM_PixelSpacing, DecimalString(spec_.spacing_mm[1]) + "\\" + DecimalString(spec_.spacing_mm[0]));
  PutString(item, DCM_SliceThickness, DecimalString(spec_.spacing_mm[2]));
  PutString(item, DCM_SliceLocation, z);
}

}  // namespace medpipe::synth
