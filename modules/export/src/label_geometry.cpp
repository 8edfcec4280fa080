#include <itkImageRegionConstIteratorWithIndex.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "medpipe/export/dicom_seg.h"
#include "export_support.h"

namespace medpipe::exporter {
namespace {

using Point = LabelImage::PointType;

// Where one label lies in patient space: the mean and the extremes of its voxel centres (LPS, mm).
struct Placement {
  size_t voxels = 0;
  Point centroid, low, high;
};

Placement Place(const LabelImage& image, uint8_t value) {
  Placement placement;
  itk::Vector<double, 3> sum;
  sum.Fill(0);
  placement.low.Fill(std::numeric_limits<double>::max());
  placement.high.Fill(std::numeric_limits<double>::lowest());
  itk::ImageRegionConstIteratorWithIndex<LabelImage> it(&image, image.GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    if (it.Get() != value) continue;
    Point point;
    image.TransformIndexToPhysicalPoint(it.GetIndex(), point);
    for (unsigned a = 0; a < 3; ++a) {
      sum[a] += point[a];
      placement.low[a] = std::min(placement.low[a], point[a]);
      placement.high[a] = std::max(placement.high[a], point[a]);
    }
    ++placement.voxels;
  }
  for (unsigned a = 0; a < 3; ++a) placement.centroid[a] = placement.voxels ? sum[a] / placement.voxels : 0.0;
  return placement;
}

// The offset from A to B in voxels of GRID along its own axes, so that "half a voxel" means the same
// on oblique and anisotropic grids as on axial ones.
itk::Vector<double, 3> InVoxels(const LabelImage& grid, const Point& a, const Point& b) {
  const auto& direction = grid.GetDirection();
  itk::Vector<double, 3> voxels;
  for (unsigned axis = 0; axis < 3; ++axis) {
    double along = 0;
    for (unsigned r = 0; r < 3; ++r) along += direction[r][axis] * (b[r] - a[r]);
    voxels[axis] = along / grid.GetSpacing()[axis];
  }
  return voxels;
}

std::string Describe(const Point& point) {
  std::ostringstream text;
  text.precision(4);
  text << "(" << point[0] << ", " << point[1] << ", " << point[2] << ") mm";
  return text.str();
}

void RequireClose(const LabelImage& grid, const std::string& what, const std::string& label, const std::string& measure,
                  const Point& expected, const Point& read_back) {
  const auto offset = InVoxels(grid, expected, read_back);
  const double worst = std::max({std::abs(offset[0]), std::abs(offset[1]), std::abs(offset[2])});
  if (worst <= 0.5) return;
  std::ostringstream reason;
  reason.precision(3);
  reason << label << ": " << measure << " is " << Describe(read_back) << " but " << Describe(expected)
         << " was expected, off by (" << offset[0] << ", " << offset[1] << ", " << offset[2] << ") voxels";
  throw InternalError(what, reason.str());
}

}  // namespace

void CheckSameGeometry(const LabelImage& expected, const LabelImage& read_back, const std::vector<model::Label>& labels,
                       const std::string& what) {
  const std::vector<uint8_t> values = SegmentValues(labels, what);
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string label = "label '" + labels[i].name + "' (value " + std::to_string(values[i]) + ")";
    const Placement want = Place(expected, values[i]);
    const Placement got = Place(read_back, values[i]);
    if ((want.voxels == 0) != (got.voxels == 0)) {
      throw InternalError(what, label + ": " + std::to_string(got.voxels) + " voxels read back where " +
                                    std::to_string(want.voxels) + " were expected");
    }
    if (want.voxels == 0) continue;
    RequireClose(expected, what, label, "centroid", want.centroid, got.centroid);
    RequireClose(expected, what, label, "bounding box low corner", want.low, got.low);
    RequireClose(expected, what, label, "bounding box high corner", want.high, got.high);
  }
}

}  // namespace medpipe::exporter
