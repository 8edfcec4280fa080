#pragma once
// Orders the slices of one series along their normal and judges whether they form a regular grid.
#include <array>
#include <string>
#include <vector>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

struct SliceStack {
  std::vector<size_t> order;  // input indices, sorted by position along the normal
  Vec3 row{}, column{}, normal{};
  std::vector<double> distances;  // along the normal from the first sorted slice, mm
  double spacing = 0.0;           // typical gap along the normal, mm (median)
  double tilt_deg = 0.0;          // angle between the slice step and the normal (gantry tilt)
  bool uneven = false;            // gaps differ and are not whole multiples of the spacing
  int missing_slices = 0;         // slices absent from gaps that are whole multiples of the spacing
  bool coincident = false;        // two slices at the same position
};

// POSITIONS are ImagePositionPatient of each slice; ORIENTATION the shared ImageOrientationPatient.
SliceStack AnalyzeSlices(const std::vector<Vec3>& positions, const std::array<double, 6>& orientation);

Vec3 Cross(const Vec3& a, const Vec3& b);
double Dot(const Vec3& a, const Vec3& b);

}  // namespace medpipe::dicom
