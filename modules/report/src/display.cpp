#include "display.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <sstream>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/core/percentile.h"

namespace medpipe::report {
namespace {

constexpr size_t kMaxSamples = 1'000'000;

}  // namespace

Window PercentileWindow(const Image3D& image) {
  const size_t count = image.GetBufferedRegion().GetNumberOfPixels();
  const size_t stride = std::max<size_t>(1, count / kMaxSamples);
  const float* voxels = image.GetBufferPointer();
  std::vector<float> sample;
  sample.reserve(count / stride + 1);
  for (size_t i = 0; i < count; i += stride) sample.push_back(voxels[i]);
  return {static_cast<float>(Percentile(sample, 1)), static_cast<float>(Percentile(sample, 99))};
}

cv::Mat ToDisplay(const cv::Mat& plane, Window window, cv::Size size) {
  // A constant image would divide by zero; it shows black.
  const double width = window.high > window.low ? window.high - window.low : 1;
  cv::Mat grey, resized, bgr;
  plane.convertTo(grey, CV_8U, 255 / width, -window.low * 255 / width);
  cv::resize(grey, resized, size, 0, 0, cv::INTER_LINEAR);
  cv::cvtColor(resized, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

cv::Scalar Bgr(const std::array<int, 3>& rgb) { return {double(rgb[2]), double(rgb[1]), double(rgb[0])}; }

void PutLine(cv::Mat& canvas, const std::string& text, cv::Point origin, const cv::Scalar& colour) {
  cv::putText(canvas, text, origin, cv::FONT_HERSHEY_SIMPLEX, 0.65, colour, 1, cv::LINE_AA);
}

void RequireSameSize(const itk::ImageBase<3>& image, const itk::ImageBase<3>& other, const char* what,
                     const std::filesystem::path& path) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  const auto other_size = other.GetLargestPossibleRegion().GetSize();
  if (size == other_size) return;
  std::ostringstream message;
  message << what << " grid is " << other_size << ", the image's is " << size;
  throw InternalError(path.string(), message.str());
}

void WritePng(const cv::Mat& canvas, const std::filesystem::path& path) {
  bool written = false;
  try {
    written = cv::imwrite(path.string(), canvas);
  } catch (const cv::Exception& error) {
    throw IoError(path.string(), "cannot write PNG: " + error.msg);
  }
  if (!written) throw IoError(path.string(), "cannot write PNG (does its folder exist and is it writable?)");
}

}  // namespace medpipe::report
