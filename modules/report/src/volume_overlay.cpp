#include <itkOrientImageFilter.h>
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
typename TImage::Pointer OrientToLps(const TImage& image) {
  typename TImage::DirectionType identity;
  identity.SetIdentity();
  auto orient = itk::OrientImageFilter<TImage, TImage>::New();
  orient->UseImageDirectionOn();
  orient->SetDesiredCoordinateDirection(identity);
  orient->SetInput(&image);
  orient->Update();
  return orient->GetOutput();
}

// The voxels of an LPS-oriented image as a cv::Mat with sizes {z, y, x}, sharing its buffer.
template <class TImage>
cv::Mat AsMat(TImage& image, int type) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  const int sizes[] = {int(size[2]), int(size[1]), int(size[0])};
  return cv::Mat(3, sizes, type, image.GetBufferPointer());
}

// Each view is a plane of the {z, y, x} mat at a fixed index along the mat axis of the same number.
enum View { kAxial = 0, kCoronal = 1, kSagittal = 2 };
constexpr const char* kViewNames[] = {"axial", "coronal", "sagittal"};
constexpr const char* kViewSides[][2] = {{"R", "L"}, {"R", "L"}, {"A", "P"}};

// Axial: rows run from anterior to posterior, columns from patient right to left. Coronal and sagittal:
// superior at the top (rows flipped), columns from right to left, or from anterior to posterior.
cv::Mat Plane(const cv::Mat& volume, View view, int index) {
  std::vector<cv::Range> ranges(3, cv::Range::all());
  ranges[view] = cv::Range(index, index + 1);
  const int rows = view == kAxial ? volume.size[1] : volume.size[0];
  const int columns = view == kSagittal ? volume.size[1] : volume.size[2];
  cv::Mat plane = volume(ranges.data()).clone().reshape(1, {rows, columns});
  if (view != kAxial) cv::flip(plane, plane, 0);
  return plane;
}

// Width over height in mm of VIEW's planes.
double Aspect(View view, const itk::Vector<double, 3>& spacing, const cv::Mat& volume) {
  const double x_mm = spacing[0] * volume.size[2], y_mm = spacing[1] * volume.size[1], z_mm = spacing[2] * volume.size[0];
  switch (view) {
    case kAxial: return x_mm / y_mm;
    case kCoronal: return x_mm / z_mm;
    case kSagittal: return y_mm / z_mm;
  }
  return 1;
}

// {z, y, x} index of the labelled voxels' centroid, or of the centre when there are none.
std::array<int, 3> Centre(const cv::Mat& labels) {
  cv::Vec3d sum(0, 0, 0);
  double count = 0;
  for (int z = 0; z < labels.size[0]; ++z) {
    for (int y = 0; y < labels.size[1]; ++y) {
      const uint8_t* row = labels.ptr<uint8_t>(z, y);
      for (int x = 0; x < labels.size[2]; ++x) {
        if (!row[x]) continue;
        sum += cv::Vec3d(z, y, x);
        ++count;
      }
    }
  }
  std::array<int, 3> centre;
  for (int a = 0; a < 3; ++a) centre[a] = count ? int(std::lround(sum[a] / count)) : labels.size[a] / 2;
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
  const auto oriented = OrientToLps(image);
  const cv::Mat volume = AsMat(*oriented, CV_32F);
  LabelImage::Pointer oriented_labels;  // owns LABEL_VOLUME's voxels
  cv::Mat label_volume = cv::Mat::zeros(3, volume.size.p, CV_8U);
  if (labels) {
    oriented_labels = OrientToLps(*labels);
    label_volume = AsMat(*oriented_labels, CV_8U);
  }
  const auto centre = Centre(label_volume);
  const Window window = WindowFor(modality, image);

  double aspect_sum = 0;
  for (View view : {kAxial, kCoronal, kSagittal}) aspect_sum += Aspect(view, oriented->GetSpacing(), volume);
  const int height = std::min(kMaxPanelHeight, std::max(1, int((kMontageWidth - 2 * kGap) / aspect_sum)));
  const int legend_height = legend.empty() ? 0 : 12 + int(legend.size()) * kLineHeight;
  cv::Mat canvas(height + legend_height, kMontageWidth, CV_8UC3, cv::Scalar::all(0));

  std::vector<cv::Mat> panels;
  int total_width = 2 * kGap;
  for (View view : {kAxial, kCoronal, kSagittal}) {
    // Rounding down keeps the three within the montage unless HEIGHT had to be raised to 1.
    const cv::Size size(std::max(1, int(Aspect(view, oriented->GetSpacing(), volume) * height)), height);
    panels.push_back(ToDisplay(Plane(volume, view, centre[view]), window, size));
    DrawContours(panels.back(), Plane(label_volume, view, centre[view]), legend);
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
