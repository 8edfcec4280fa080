#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "display.h"
#include "medpipe/report/overlay.h"

namespace medpipe::report {
namespace {

constexpr int kFitSize = 1000;
constexpr double kHeatWeight = 0.4;
const cv::Scalar kBannerColour{48, 32, 16};

// The first slice of IMAGE as a float plane sharing its buffer: rows along index y, columns along x.
cv::Mat FirstSlice(const Image3D& image) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  return cv::Mat(int(size[1]), int(size[0]), CV_32F, const_cast<float*>(image.GetBufferPointer()));
}

// The longer side at kFitSize with square pixels.
cv::Size FittedSize(const Image3D& image) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  const double width_mm = double(size[0]) * image.GetSpacing()[0];
  const double height_mm = double(size[1]) * image.GetSpacing()[1];
  const double scale = kFitSize / std::max(width_mm, height_mm);
  return {std::max(1, int(std::lround(width_mm * scale))), std::max(1, int(std::lround(height_mm * scale)))};
}

// The heat map's colour scale under a picture WIDTH wide: the JET bar from 0 to 1 (the colours
// HeatColours gives), ticks with their numbers, and what the map shows.
cv::Mat ColourScale(int width) {
  constexpr int kMargin = 10, kBarTop = 8, kBarHeight = 16;
  constexpr int kNumbers = kBarTop + kBarHeight + 24, kCaption = kNumbers + kLineHeight;  // text baselines
  const int bar_width = std::max(100, std::min(width - 2 * kMargin, 512));
  cv::Mat strip(kCaption + 12, width, CV_8UC3, kBannerColour);
  cv::Mat ramp(1, bar_width, CV_8U), bar;
  for (int x = 0; x < bar_width; ++x) ramp.at<uchar>(0, x) = cv::saturate_cast<uchar>(255.0 * x / (bar_width - 1));
  cv::applyColorMap(ramp, bar, cv::COLORMAP_JET);
  cv::resize(bar, bar, {bar_width, kBarHeight}, 0, 0, cv::INTER_NEAREST);
  bar.copyTo(strip(cv::Rect(kMargin, kBarTop, bar_width, kBarHeight)));
  for (const double tick : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const int x = kMargin + int(std::lround(tick * (bar_width - 1)));
    cv::line(strip, {x, kBarTop + kBarHeight}, {x, kBarTop + kBarHeight + 4}, {255, 255, 255});
    char text[8];
    std::snprintf(text, sizeof text, "%g", tick);
    const int text_width = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, 0.65, 1, nullptr).width;
    PutLine(strip, text, {std::clamp(x - text_width / 2, 0, width - text_width), kNumbers});
  }
  PutLine(strip, "heat map: 0 (none) to 1 (strongest in this image)", {kMargin, kCaption});
  return strip;
}

// PICTURE with the colour scale below it.
cv::Mat WithColourScale(const cv::Mat& picture) {
  cv::Mat stacked;
  cv::vconcat(picture, ColourScale(picture.cols), stacked);
  return stacked;
}

// HEATMAP (values 0..1) scaled to SIZE: its values, and their JET colours.
std::pair<cv::Mat, cv::Mat> HeatColours(const Image3D& heatmap, cv::Size size) {
  cv::Mat resized, heat, colours;
  cv::resize(FirstSlice(heatmap), resized, size, 0, 0, cv::INTER_LINEAR);
  resized.convertTo(heat, CV_8U, 255);
  cv::applyColorMap(heat, colours, cv::COLORMAP_JET);
  return {resized, colours};
}

// Blends HEATMAP's JET colours into PICTURE, each pixel's weight kHeatWeight times its heat: cold
// parts stay as acquired, and the map fades out instead of ending in the steps of a coarse grid.
void BlendHeatmap(cv::Mat& picture, const Image3D& heatmap) {
  const auto [resized, colours] = HeatColours(heatmap, picture.size());
  cv::Mat weight, weights, picture_f, colours_f;
  resized.convertTo(weight, CV_32F, kHeatWeight);
  cv::merge(std::vector<cv::Mat>(3, weight), weights);
  picture.convertTo(picture_f, CV_32FC3);
  colours.convertTo(colours_f, CV_32FC3);
  cv::Mat blended = picture_f + weights.mul(colours_f - picture_f);
  blended.convertTo(picture, CV_8UC3);
}

}  // namespace

void WriteHeatmapPng(const Image3D& heatmap, const std::filesystem::path& path) {
  WritePng(WithColourScale(HeatColours(heatmap, FittedSize(heatmap)).second), path);
}

void WriteXrayOverlay(const Image3D& image, const std::vector<std::string>& lines, const Image3D* heatmap,
                      const std::filesystem::path& path) {
  if (heatmap) RequireSameSize(image, *heatmap, "heat map", path);
  cv::Mat picture = ToDisplay(FirstSlice(image), PercentileWindow(image), FittedSize(image));
  if (heatmap) BlendHeatmap(picture, *heatmap);
  const int banner_height = 12 + int(lines.size()) * kLineHeight;
  cv::Mat canvas(banner_height + picture.rows, picture.cols, CV_8UC3, kBannerColour);
  for (size_t i = 0; i < lines.size(); ++i) PutLine(canvas, lines[i], {10, int(i + 1) * kLineHeight});
  picture.copyTo(canvas.rowRange(banner_height, canvas.rows));
  WritePng(heatmap ? WithColourScale(canvas) : canvas, path);
}

}  // namespace medpipe::report
