#pragma once
// Percentiles of voxel values, one convention throughout (normalisation, label intensities, display
// windows): numpy.percentile's default, "linear": the value at rank PERCENT / 100 * (n - 1) of the
// sorted values, interpolated linearly between the two closest ranks.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace medpipe {

// The PERCENT-th percentile (0 to 100) of VALUES (at least one; float voxels or double measures).
// Reorders VALUES, in O(n) rather than a sort, so several percentiles of one vector cost little more
// than one.
template <class Value>
double Percentile(std::vector<Value>& values, double percent) {
  const double rank = percent / 100 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(rank);
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(below);
  std::nth_element(values.begin(), at, values.end());
  const double low = *at;
  if (below + 1 >= values.size()) return low;
  const double high = *std::min_element(at + 1, values.end());
  return low + (rank - static_cast<double>(below)) * (high - low);
}

}  // namespace medpipe
