#include "medpipe/dicom/slice_stack.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace medpipe::dicom {
namespace {

// Positions are stored as decimal strings; gaps that agree to this many mm are equal.
double GapTolerance(double spacing) { return std::max(0.02, 0.01 * spacing); }
constexpr double kCoincidentMm = 1e-3;
constexpr double kTiltThresholdDeg = 0.1;

Vec3 Normalized(const Vec3& v) {
  const double norm = std::sqrt(Dot(v, v));
  return norm > 0 ? Vec3{v[0] / norm, v[1] / norm, v[2] / norm} : v;
}

}  // namespace

Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

SliceStack AnalyzeSlices(const std::vector<Vec3>& positions, const std::array<double, 6>& orientation) {
  SliceStack stack;
  stack.row = Normalized({orientation[0], orientation[1], orientation[2]});
  stack.column = Normalized({orientation[3], orientation[4], orientation[5]});
  stack.normal = Normalized(Cross(stack.row, stack.column));

  std::vector<double> along(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) along[i] = Dot(positions[i], stack.normal);
  stack.order.resize(positions.size());
  std::iota(stack.order.begin(), stack.order.end(), 0);
  std::stable_sort(stack.order.begin(), stack.order.end(), [&](size_t a, size_t b) { return along[a] < along[b]; });
  for (size_t index : stack.order) stack.distances.push_back(along[index] - along[stack.order.front()]);
  if (positions.size() < 2) return stack;

  std::vector<double> gaps;
  for (size_t i = 1; i < stack.distances.size(); ++i) gaps.push_back(stack.distances[i] - stack.distances[i - 1]);
  stack.coincident = std::any_of(gaps.begin(), gaps.end(), [](double gap) { return gap < kCoincidentMm; });
  if (stack.coincident) return stack;

  std::vector<double> sorted_gaps = gaps;
  std::nth_element(sorted_gaps.begin(), sorted_gaps.begin() + sorted_gaps.size() / 2, sorted_gaps.end());
  stack.spacing = sorted_gaps[sorted_gaps.size() / 2];
  const double tolerance = GapTolerance(stack.spacing);
  for (double gap : gaps) {
    const double multiple = std::round(gap / stack.spacing);
    if (std::abs(gap - stack.spacing) <= tolerance) continue;
    if (multiple >= 2 && std::abs(gap - multiple * stack.spacing) <= tolerance) {
      // Counted in double and capped: one hostile position can leave room for 1e12 slices, past int
      // (found by review while triaging fuzz_index).
      stack.missing_slices = static_cast<int>(
          std::min<double>(stack.missing_slices + multiple - 1, std::numeric_limits<int>::max()));
    } else {
      stack.uneven = true;
    }
  }

  const Vec3& first = positions[stack.order.front()];
  const Vec3& last = positions[stack.order.back()];
  const Vec3 step{last[0] - first[0], last[1] - first[1], last[2] - first[2]};
  const double normal_part = Dot(step, stack.normal);
  const Vec3 in_plane{step[0] - normal_part * stack.normal[0], step[1] - normal_part * stack.normal[1],
                      step[2] - normal_part * stack.normal[2]};
  const double tilt = std::atan2(std::sqrt(Dot(in_plane, in_plane)), normal_part) * 180.0 / M_PI;
  stack.tilt_deg = tilt > kTiltThresholdDeg ? tilt : 0.0;
  return stack;
}

}  // namespace medpipe::dicom
