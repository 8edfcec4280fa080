#pragma once
// Pieces both overlays share: windowing, resizing to square pixels, text and PNG output.
#include <opencv2/core.hpp>

#include <array>
#include <filesystem>
#include <string>

#include "medpipe/core/volume.h"

namespace medpipe::report {

// Grey values LOW..HIGH map to black..white.
struct Window {
  double low, high;
};

// The 1st and 99th percentile of IMAGE's voxels (of an even sample of at most a million of them).
Window PercentileWindow(const Image3D& image);

// A float plane windowed to 8-bit grey, resized to SIZE and made BGR for colour drawing.
cv::Mat ToDisplay(const cv::Mat& plane, Window window, cv::Size size);

// An RGB colour as OpenCV's BGR scalar.
cv::Scalar Bgr(const std::array<int, 3>& rgb);

// One line of text with its baseline at ORIGIN.
void PutLine(cv::Mat& canvas, const std::string& text, cv::Point origin, const cv::Scalar& colour = {255, 255, 255});

// Height in pixels that PutLine's text needs per line, spacing included.
constexpr int kLineHeight = 28;

// Compares two voxel grids' sizes; throws an internal Error naming PATH and WHAT when they differ.
void RequireSameSize(const itk::ImageBase<3>& image, const itk::ImageBase<3>& other, const char* what,
                     const std::filesystem::path& path);

// Writes CANVAS as PNG; throws IoError naming PATH and OpenCV's reason.
void WritePng(const cv::Mat& canvas, const std::filesystem::path& path);

}  // namespace medpipe::report
