#include <itkImageRegionConstIteratorWithIndex.h>
#include <itkOrientImageFilter.h>
#include <itkRegionOfInterestImageFilter.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "display.h"
#include "medpipe/report/overlay.h"

namespace medpipe::report {
namespace {

constexpr int kMontageWidth = 1200;
constexpr int kGap = 8;
constexpr int kMaxPanelHeight = 900;
constexpr double kCtLevel = 40, kCtWidth = 400;

// Index axes along +x, +y, +z of LPS (patient left, posterior, superior), by permuting and flipping
// only, so every voxel keeps its value; an oblique image takes its nearest such axes.
template <class TImage>
typename itk::OrientImageFilter<TImage, TImage>::Pointer LpsOrienter(const TImage& image) {
  typename TImage::DirectionType identity;
  identity.SetIdentity();
  auto orient = itk::OrientImageFilter<TImage, TImage>::New();
  orient->UseImageDirectionOn();
  orient->SetDesiredCoordinateDirection(identity);
  orient->SetInput(&image);
  return orient;
}

// Where LPS axis a (x, y, z) lies in an image: image axis `axis[a]`, reversed when `flipped[a]`.
// Found from the geometry alone, so a view needs only its own plane of the volume.
struct LpsAxes {
  std::array<unsigned, 3> axis;
  std::array<bool, 3> flipped;
  std::array<int, 3> size;        // voxels along each LPS axis
  std::array<double, 3> spacing;  // mm along each LPS axis

  template <class TImage>
  explicit LpsAxes(const TImage& image) {
    auto orient = LpsOrienter(image);
    orient->UpdateOutputInformation();
    for (unsigned a = 0; a < 3; ++a) {
      axis[a] = orient->GetPermuteOrder()[a];
      flipped[a] = orient->GetFlipAxes()[a];
      size[a] = int(image.GetLargestPossibleRegion().GetSize()[axis[a]]);
      spacing[a] = image.GetSpacing()[axis[a]];
    }
  }
  // Between LPS-ordered index and image index along LPS axis A; the mapping is its own inverse.
  long ImageIndex(unsigned a, long lps_index) const { return flipped[a] ? size[a] - 1 - lps_index : lps_index; }
};

// Each view is a plane at a fixed index along one LPS axis: axial z, coronal y, sagittal x.
enum View { kAxial = 0, kCoronal = 1, kSagittal = 2 };
constexpr unsigned kViewAxis[] = {2, 1, 0};
constexpr const char* kViewNames[] = {"axial", "coronal", "sagittal"};
constexpr const char* kViewSides[][2] = {{"R", "L"}, {"R", "L"}, {"A", "P"}};

// VIEW's plane of IMAGE at LPS index INDEX along the view's axis, copying only that slab. Axial: rows
// run from anterior to posterior, columns from patient right to left. Coronal and sagittal: superior
// at the top (rows flipped), columns from right to left, or from anterior to posterior.
template <class TImage>
cv::Mat Plane(const TImage& image, const LpsAxes& axes, View view, int index, int type) {
  const unsigned a = kViewAxis[view];
  auto region = image.GetLargestPossibleRegion();
  region.SetIndex(axes.axis[a], axes.ImageIndex(a, index));
  region.SetSize(axes.axis[a], 1);
  auto slab = itk::RegionOfInterestImageFilter<TImage, TImage>::New();
  slab->SetInput(&image);
  slab->SetRegionOfInterest(region);
  slab->Update();
  auto orient = LpsOrienter(*slab->GetOutput());
  orient->Update();
  const auto size = orient->GetOutput()->GetLargestPossibleRegion().GetSize();
  const int rows = view == kAxial ? int(size[1]) : int(size[2]);
  const int columns = view == kSagittal ? int(size[1]) : int(size[0]);
  cv::Mat plane = cv::Mat(rows, columns, type, orient->GetOutput()->GetBufferPointer()).clone();
  if (view != kAxial) cv::flip(plane, plane, 0);
  return plane;
}

// Width over height in mm of VIEW's planes.
double Aspect(View view, const LpsAxes& axes) {
  std::array<double, 3> mm;
  for (unsigned a = 0; a < 3; ++a) mm[a] = axes.spacing[a] * axes.size[a];
  switch (view) {
    case kAxial: return mm[0] / mm[1];
    case kCoronal: return mm[0] / mm[2];
    case kSagittal: return mm[1] / mm[2];
  }
  return 1;
}

// LPS index (x, y, z) of the labelled voxels' centroid, or of the centre when there are none.
std::array<int, 3> Centre(const LabelImage* labels, const LpsAxes& axes) {
  std::array<double, 3> sum{0, 0, 0};
  double count = 0;
  if (labels) {
    for (itk::ImageRegionConstIteratorWithIndex<LabelImage> it(labels, labels->GetLargestPossibleRegion()); !it.IsAtEnd();
         ++it) {
      if (!it.Get()) continue;
      for (unsigned k = 0; k < 3; ++k) sum[k] += double(it.GetIndex()[k]);
      ++count;
    }
  }
  std::array<int, 3> centre;
  for (unsigned a = 0; a < 3; ++a) {
    centre[a] = count ? int(axes.ImageIndex(a, std::lround(sum[axes.axis[a]] / count))) : axes.size[a] / 2;
  }
  return centre;
}

Window WindowFor(const std::string& modality, const Image3D& image) {
  if (modality == "CT") return {kCtLevel - kCtWidth / 2, kCtLevel + kCtWidth / 2};
  return PercentileWindow(image);
}

void DrawContours(cv::Mat& panel, const cv::Mat& label_plane, const std::vector<LegendEntry>& legend) {
  for (const auto& entry : legend) {
    const cv::Mat mask = label_plane == entry.value;
    cv::Mat resized;
    // Nearest keeps the mask binary; tracing it at display size gives smooth outlines.
    cv::resize(mask, resized, panel.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(resized, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(panel, contours, -1, Bgr(entry.colour), 2);
  }
}

void Annotate(cv::Mat& panel, View view) {
  const int middle = panel.rows / 2;
  PutLine(panel, kViewNames[view], {6, 22});
  PutLine(panel, kViewSides[view][0], {6, middle});
  PutLine(panel, kViewSides[view][1], {panel.cols - 20, middle});
}

// One line per entry from row TOP down: colour box, name, text.
void DrawLegend(cv::Mat& canvas, int top, const std::vector<LegendEntry>& legend) {
  for (const auto& entry : legend) {
    top += kLineHeight;
    cv::rectangle(canvas, cv::Rect(12, top - 18, 18, 18), Bgr(entry.colour), cv::FILLED);
    PutLine(canvas, entry.name + "  " + entry.text, {40, top - 3});
  }
}

}  // namespace

void WriteVolumeOverlay(const Image3D& image, const LabelImage* labels, const std::vector<LegendEntry>& legend,
                        const std::string& modality, const std::filesystem::path& path) {
  if (labels) RequireSameSize(image, *labels, "label", path);
  const LpsAxes axes(image);
  const auto centre = Centre(labels, axes);
  const Window window = WindowFor(modality, image);

  double aspect_sum = 0;
  for (View view : {kAxial, kCoronal, kSagittal}) aspect_sum += Aspect(view, axes);
  const int height = std::min(kMaxPanelHeight, std::max(1, int((kMontageWidth - 2 * kGap) / aspect_sum)));
  const int legend_height = legend.empty() ? 0 : 12 + int(legend.size()) * kLineHeight;
  cv::Mat canvas(height + legend_height, kMontageWidth, CV_8UC3, cv::Scalar::all(0));

  std::vector<cv::Mat> panels;
  int total_width = 2 * kGap;
  for (View view : {kAxial, kCoronal, kSagittal}) {
    // Rounding down keeps the three within the montage unless HEIGHT had to be raised to 1.
    const cv::Size size(std::max(1, int(Aspect(view, axes) * height)), height);
    const int index = centre[kViewAxis[view]];
    const cv::Mat plane = Plane(image, axes, view, index, CV_32F);
    panels.push_back(ToDisplay(plane, window, size));
    DrawContours(panels.back(), labels ? Plane(*labels, axes, view, index, CV_8U) : cv::Mat::zeros(plane.size(), CV_8U),
                 legend);
    Annotate(panels.back(), view);
    total_width += size.width;
  }
  int left = std::max(0, (kMontageWidth - total_width) / 2);
  for (const auto& panel : panels) {
    const int visible = std::min(panel.cols, kMontageWidth - left);
    if (visible > 0) panel.colRange(0, visible).copyTo(canvas(cv::Rect(left, 0, visible, height)));
    left += panel.cols + kGap;
  }
  DrawLegend(canvas, height, legend);
  WritePng(canvas, path);
}

}  // namespace medpipe::report
