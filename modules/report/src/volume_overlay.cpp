#include <itkImageRegionConstIteratorWithIndex.h>
#include <itkOrientImageFilter.h>
#include <itkRegionOfInterestImageFilter.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "display.h"
#include "medpipe/report/overlay.h"

namespace medpipe::report {
namespace {

constexpr int kMontageWidth = 1200;
constexpr int kGap = 8;
constexpr int kMaxPanelHeight = 900;
constexpr int kMinPanelWidth = 160, kMinPanelHeight = 160;  // px: a thin slab stays readable
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

// Degrees between the voxel axes and their nearest patient axes (the worst of the three), as the
// slice viewer computes it: 0 for a series acquired along the patient axes.
double TiltDegrees(const Image3D& image) {
  const auto& direction = image.GetDirection();
  double worst = 0;
  for (unsigned c = 0; c < 3; ++c) {
    double largest = 0, norm = 0;
    for (unsigned r = 0; r < 3; ++r) {
      largest = std::max(largest, std::fabs(direction(r, c)));
      norm += direction(r, c) * direction(r, c);
    }
    if (norm > 0) worst = std::max(worst, std::acos(std::min(1.0, largest / std::sqrt(norm))) * 180 / M_PI);
  }
  return worst;
}

// What a view shows of an oblique series: the plane of the acquisition at a fixed index along image
// axis AXIS (0 column, 1 row, 2 slice).
const char* AcquisitionPlaneName(unsigned axis) {
  static const char* kNames[] = {"column plane", "row plane", "slice plane"};
  return kNames[axis];
}

// Text drawn in the montage's one font, shrunk (down to kSmallestScale) to fit a width.
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.65, kSmallestScale = 0.4;
constexpr int kRim = 3;  // px: the black outline's thickness, counted in every text's size

int TextWidth(const std::string& text, double scale) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, scale, kRim, &baseline).width;
}

double ScaleToFit(const std::string& text, int width) {
  const int full = TextWidth(text, kFontScale);
  return full <= width ? kFontScale : std::max(kSmallestScale, kFontScale * width / full);
}

// TEXT in lines of at most WIDTH px at the full font size, broken between words.
std::vector<std::string> Wrap(const std::string& text, int width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (!lines.empty() && TextWidth(lines.back() + " " + word, kFontScale) <= width) lines.back() += " " + word;
    else lines.push_back(word);
  }
  return lines;
}

// Draws lines on the canvas and records where each one's glyphs went.
class TextPainter {
 public:
  TextPainter(cv::Mat& canvas, std::vector<MontageLayout::Text>& texts) : canvas_(canvas), texts_(texts) {}

  // TEXT with its baseline at ORIGIN, at most WIDTH px wide (shrunk, then cut with "..."); returns its width.
  int Line(std::string text, cv::Point origin, int width, const cv::Scalar& colour = {255, 255, 255}) {
    double scale = ScaleToFit(text, width);
    while (text.size() > 3 && TextWidth(text, scale) > width) text = text.substr(0, text.size() - 4) + "...";
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, kFont, scale, kRim, &baseline);
    // A black rim keeps letters legible over bright tissue.
    cv::putText(canvas_, text, origin, kFont, scale, cv::Scalar::all(0), kRim, cv::LINE_AA);
    cv::putText(canvas_, text, origin, kFont, scale, colour, 1, cv::LINE_AA);
    texts_.push_back({text, origin.x - kRim / 2, origin.y - size.height, size.width, size.height + baseline});
    return size.width;
  }

 private:
  cv::Mat& canvas_;
  std::vector<MontageLayout::Text>& texts_;
};

// Millimetres across and down each view's planes: axial x by y, coronal x by z, sagittal y by z.
std::array<cv::Size2d, 3> PlaneMillimetres(const LpsAxes& axes) {
  std::array<double, 3> mm;
  for (unsigned a = 0; a < 3; ++a) mm[a] = axes.spacing[a] * axes.size[a];
  return {cv::Size2d(mm[0], mm[1]), cv::Size2d(mm[0], mm[2]), cv::Size2d(mm[1], mm[2])};
}

// The three planes' sizes in pixels: one scale of millimetres that fits them side by side within the
// montage and kMaxPanelHeight, each at least kMinPanelWidth x kMinPanelHeight (so a slab of a few slices
// is stretched rather than shown as a strip).
std::array<cv::Size, 3> PanelSizes(const std::array<cv::Size2d, 3>& mm, double& scale) {
  const int available = kMontageWidth - 4 * kGap;
  double total_mm = 0, tallest_mm = 0;
  for (const auto& plane : mm) total_mm += plane.width, tallest_mm = std::max(tallest_mm, plane.height);
  scale = std::min(available / total_mm, kMaxPanelHeight / tallest_mm);
  // Planes held at the minimum width leave less room to the others; three minimums always fit.
  for (int pass = 0; pass < 3; ++pass) {
    int held = 0;
    double free_mm = 0;
    for (const auto& plane : mm) {
      if (scale * plane.width < kMinPanelWidth) held += kMinPanelWidth;
      else free_mm += plane.width;
    }
    if (free_mm == 0 || held + scale * free_mm <= available) break;
    scale = (available - held) / free_mm;
  }
  std::array<cv::Size, 3> sizes;
  for (int v = 0; v < 3; ++v)
    sizes[v] = {std::max(kMinPanelWidth, int(scale * mm[v].width)), std::max(kMinPanelHeight, int(scale * mm[v].height))};
  return sizes;
}

// "coronal", or with the stretch a minimum size forced: "coronal, stretched 3.6x vertically".
std::string Caption(const std::string& name, double stretch) {
  if (stretch > 0.95 && stretch < 1.05) return name;
  char text[64];
  std::snprintf(text, sizeof text, "%s, stretched %.1fx %s", name.c_str(), stretch > 1 ? stretch : 1 / stretch,
                stretch > 1 ? "vertically" : "horizontally");
  return text;
}

// The lines above an oblique series' montage, saying what its planes are.
std::vector<std::string> TiltWarning(double degrees) {
  char tilt[32];
  std::snprintf(tilt, sizeof tilt, "%.1f", degrees);
  return Wrap(std::string("Oblique series, tilted ") + tilt + " degrees: the acquisition's own slice, row and column planes, "
              "turned to the nearest patient axes; side letters are the nearest patient directions.",
              kMontageWidth - 24);
}

// The legend in columns (one up to 8 entries, at most three), each entry a colour box, name and text.
int LegendColumns(size_t entries) { return int(std::min<size_t>(3, (entries + 7) / 8)); }

int LegendHeight(size_t entries) {
  if (entries == 0) return 0;
  const size_t columns = size_t(LegendColumns(entries));
  return 12 + int((entries + columns - 1) / columns) * kLineHeight;
}

void DrawLegend(cv::Mat& canvas, int top, const std::vector<LegendEntry>& legend, TextPainter& painter) {
  if (legend.empty()) return;
  const int columns = LegendColumns(legend.size());
  const int rows = int((legend.size() + size_t(columns) - 1) / size_t(columns));
  const int column_width = (kMontageWidth - 12) / columns;
  for (size_t i = 0; i < legend.size(); ++i) {
    const int left = 12 + int(i) / rows * column_width, line = top + (int(i) % rows + 1) * kLineHeight;
    cv::rectangle(canvas, cv::Rect(left, line - 18, 18, 18), Bgr(legend[i].colour), cv::FILLED);
    painter.Line(legend[i].name + "  " + legend[i].text, {left + 28, line - 3}, column_width - 40);
  }
}

}  // namespace

MontageLayout WriteVolumeOverlay(const Image3D& image, const LabelImage* labels, const std::vector<LegendEntry>& legend,
                                 const std::string& modality, const std::filesystem::path& path) {
  if (labels) RequireSameSize(image, *labels, "label", path);
  const LpsAxes axes(image);
  const auto centre = Centre(labels, axes);
  const Window window = WindowFor(modality, image);
  MontageLayout layout;
  layout.width = kMontageWidth;
  layout.tilt_degrees = TiltDegrees(image);
  const bool oblique = layout.tilt_degrees > kObliqueDegrees;

  const auto mm = PlaneMillimetres(axes);
  double scale = 1;
  const auto sizes = PanelSizes(mm, scale);
  std::vector<std::vector<std::string>> captions;
  size_t caption_lines = 1;
  int total_width = 2 * kGap;  // between the three
  for (View view : {kAxial, kCoronal, kSagittal}) {
    const std::string name = oblique ? AcquisitionPlaneName(axes.axis[kViewAxis[view]]) : kViewNames[view];
    const double stretch = (sizes[view].height / (scale * mm[view].height)) / (sizes[view].width / (scale * mm[view].width));
    layout.panels.push_back({name, 0, 0, sizes[view].width, sizes[view].height, stretch});
    captions.push_back(Wrap(Caption(name, stretch), sizes[view].width));
    caption_lines = std::max(caption_lines, captions.back().size());
    total_width += sizes[view].width;
  }
  const auto warning = oblique ? TiltWarning(layout.tilt_degrees) : std::vector<std::string>{};
  const int header = int(warning.size()) * kLineHeight, caption_height = int(caption_lines) * kLineHeight + 4;
  const int row_top = header + caption_height;
  int row_height = 0;
  for (const auto& size : sizes) row_height = std::max(row_height, size.height);
  layout.height = row_top + row_height + LegendHeight(legend.size());
  cv::Mat canvas(layout.height, kMontageWidth, CV_8UC3, cv::Scalar::all(0));
  TextPainter painter(canvas, layout.texts);

  for (size_t i = 0; i < warning.size(); ++i)
    painter.Line(warning[i], {12, int(i + 1) * kLineHeight - 6}, kMontageWidth - 24, {80, 200, 255});
  int left = (kMontageWidth - total_width) / 2;
  for (View view : {kAxial, kCoronal, kSagittal}) {
    auto& panel = layout.panels[view];
    panel.x = left, panel.y = row_top;
    const int index = centre[kViewAxis[view]];
    const cv::Mat plane = Plane(image, axes, view, index, CV_32F);
    cv::Mat picture = ToDisplay(plane, window, sizes[view]);
    DrawContours(picture, labels ? Plane(*labels, axes, view, index, CV_8U) : cv::Mat::zeros(plane.size(), CV_8U), legend);
    picture.copyTo(canvas(cv::Rect(panel.x, panel.y, panel.width, panel.height)));
    for (size_t line = 0; line < captions[view].size(); ++line)
      painter.Line(captions[view][line], {panel.x, header + int(line + 1) * kLineHeight - 4}, panel.width);
    // Side letters at mid height, inside the plane: each under half its width.
    const int middle = panel.y + panel.height / 2, half = panel.width / 2 - 8;
    painter.Line(kViewSides[view][0], {panel.x + 6, middle}, half);
    painter.Line(kViewSides[view][1], {panel.x + panel.width - 6 - TextWidth(kViewSides[view][1], kFontScale), middle}, half);
    left += panel.width + kGap;
  }
  DrawLegend(canvas, row_top + row_height, legend, painter);
  WritePng(canvas, path);
  return layout;
}

}  // namespace medpipe::report
