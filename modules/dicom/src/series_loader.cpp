#include "medpipe/dicom/series_loader.h"

#include <itkLinearInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"
#include "medpipe/core/parallel_for.h"
#include "medpipe/core/stopwatch.h"
#include "medpipe/dicom/pixel_decoder.h"

namespace medpipe::dicom {
namespace {

// Slices as decoded: plane after plane in one buffer, each plane's channels interleaved, with
// where each slice lies. The buffer starts uninitialised: the decoders write every sample.
struct SliceStackPixels {
  uint32_t rows = 0, columns = 0, channels = 1;
  size_t slices = 0;
  VoxelBuffer::Pointer samples;
  std::vector<Vec3> positions;
  std::vector<double> distances;  // along the normal from the first slice, mm

  size_t PlaneSize() const { return size_t{rows} * columns * channels; }
  float* Plane(size_t slice) const { return samples->GetBufferPointer() + slice * PlaneSize(); }
};

// Decodes the series' files in parallel; a file's frames land on the planes of their slices.
SliceStackPixels DecodeSlices(const Series& series, const std::vector<SliceRef>& slices, const VoxelAllocator& allocate) {
  SliceStackPixels stack;
  const FileHeader& first = series.files[slices.front().file];
  stack.rows = first.SliceRows();
  stack.columns = first.SliceColumns();
  stack.channels = first.pixels.samples_per_pixel;
  stack.slices = slices.size();
  std::vector<std::vector<std::pair<size_t, size_t>>> planes_of_file(series.files.size());  // (frame, slice)
  for (size_t s = 0; s < slices.size(); ++s) {
    const SliceRef& slice = slices[s];
    const FileHeader& file = series.files[slice.file];
    if (file.SliceRows() != stack.rows || file.SliceColumns() != stack.columns ||
        file.pixels.samples_per_pixel != stack.channels) {
      throw DicomError(file.path, "matrix differs from the rest of the series");
    }
    planes_of_file[slice.file].emplace_back(slice.frame, s);
    if (slices.size() > 1 || file.frames[slice.frame].position) {
      stack.positions.push_back(file.frames[slice.frame].position.value_or(Vec3{0, 0, 0}));
    }
  }
  const size_t plane = stack.PlaneSize();
  try {
    stack.samples = allocate(plane * stack.slices);
  } catch (const std::exception& error) {  // bad_alloc, or ITK's own exception for it
    throw DicomError(first.path, "series of " + std::to_string(stack.slices) + " slices needs " +
                                     std::to_string(plane * stack.slices * sizeof(float) >> 20) +
                                     " MiB of memory and cannot have it: " + error.what());
  }
  ParallelFor(series.files.size(), UsableCores(), [&](size_t f) {
    const auto& planes = planes_of_file[f];
    if (planes.empty()) return;
    const FileHeader& file = series.files[f];
    // A single-frame file decodes straight into its plane; frames of a larger one are copied out.
    if (file.frames.size() == 1 && planes.size() == 1) return DecodePixels(file, stack.Plane(planes.front().second));
    std::vector<float> frames(DecodedSamples(file));
    DecodePixels(file, frames.data());
    for (const auto& [frame, slice] : planes) std::copy_n(frames.data() + frame * plane, plane, stack.Plane(slice));
  });
  stack.distances = series.stack.distances;
  return stack;
}

// dcm2niix's rule: the smallest gap, but never more than twice as many slices as acquired.
void EqualizeSpacing(SliceStackPixels& stack) {
  const auto& d = stack.distances;
  const size_t n = d.size();
  double step = d[1] - d[0];
  for (size_t i = 1; i < n; ++i) step = std::min(step, d[i] - d[i - 1]);
  size_t count = static_cast<size_t>(std::ceil((d[n - 1] - 0.5 * (d[n - 1] - d[n - 2])) / step));
  if (count > 2 * n) {
    count = 2 * n;
    step = d[n - 1] / static_cast<double>(count - 1);
  }
  SliceStackPixels equal;
  equal.rows = stack.rows;
  equal.columns = stack.columns;
  equal.channels = stack.channels;
  equal.slices = count;
  equal.samples = AllocateVoxels(stack.PlaneSize() * count);
  for (size_t s = 0; s < count; ++s) {
    const double target = static_cast<double>(s) * step;
    size_t hi = 0;
    while (hi + 1 < n && d[hi] < target) ++hi;
    const size_t lo = hi == 0 ? 0 : hi - 1;
    const double w = (d[hi] == d[lo] || target > d[hi]) ? 1.0 : (target - d[lo]) / (d[hi] - d[lo]);
    const float *below = stack.Plane(lo), *above = stack.Plane(hi);
    float* plane = equal.Plane(s);
    for (size_t i = 0; i < stack.PlaneSize(); ++i) plane[i] = static_cast<float>((1 - w) * below[i] + w * above[i]);
    Vec3 position{};
    for (int k = 0; k < 3; ++k) position[k] = (1 - w) * stack.positions[lo][k] + w * stack.positions[hi][k];
    equal.positions.push_back(position);
    equal.distances.push_back(target);
  }
  stack = std::move(equal);
}

Image3D::DirectionType Direction(const Vec3& x, const Vec3& y, const Vec3& z) {
  Image3D::DirectionType direction;
  for (int r = 0; r < 3; ++r) {
    direction[r][0] = x[r];
    direction[r][1] = y[r];
    direction[r][2] = z[r];
  }
  return direction;
}

// One image per channel; a single channel takes over the stack's buffer instead of copying it.
std::vector<Image3D::Pointer> ToImages(SliceStackPixels& stack, const Image3D::SpacingType& spacing, const Vec3& origin,
                                       const Image3D::DirectionType& direction) {
  Image3D::SizeType size{{stack.columns, stack.rows, stack.slices}};
  Image3D::PointType itk_origin;
  for (int k = 0; k < 3; ++k) itk_origin[k] = origin[k];
  std::vector<Image3D::Pointer> images;
  if (stack.channels == 1) {
    auto image = Image3D::New();
    image->SetRegions(Image3D::RegionType(size));
    image->SetSpacing(spacing);
    image->SetOrigin(itk_origin);
    image->SetDirection(direction);
    image->SetPixelContainer(stack.samples);
    return {image};
  }
  const size_t pixels = size_t{stack.rows} * stack.columns;
  for (uint32_t c = 0; c < stack.channels; ++c) {
    auto image = MakeImage(size, spacing, itk_origin, direction);
    float* out = image->GetBufferPointer();
    for (size_t s = 0; s < stack.slices; ++s) {
      const float* plane = stack.Plane(s);
      for (size_t i = 0; i < pixels; ++i) out[s * pixels + i] = plane[i * stack.channels + c];
    }
    images.push_back(image);
  }
  return images;
}

// The sheared stack resampled onto an orthogonal grid: rows grow to hold the whole shifted extent.
Image3D::Pointer RemoveTilt(const Image3D::Pointer& sheared, const SliceStack& geometry, const Vec3& step) {
  const auto& spacing = sheared->GetSpacing();
  const auto size = sheared->GetLargestPossibleRegion().GetSize();
  const double shift_per_slice = Dot(step, geometry.column);
  const double total_shift = shift_per_slice * static_cast<double>(size[2] - 1);
  const auto extra_rows = static_cast<unsigned long>(std::ceil(std::abs(total_shift) / spacing[1] - 1e-6));

  Image3D::SpacingType out_spacing = spacing;
  out_spacing[2] = std::abs(Dot(step, geometry.normal));
  Image3D::PointType origin = sheared->GetOrigin();
  const double column_offset = std::min(0.0, total_shift);
  for (int k = 0; k < 3; ++k) origin[k] += column_offset * geometry.column[k];

  const float darkest = *std::min_element(sheared->GetBufferPointer(),
                                          sheared->GetBufferPointer() + sheared->GetPixelContainer()->Size());
  auto resample = itk::ResampleImageFilter<Image3D, Image3D>::New();
  resample->SetInput(sheared);
  resample->SetInterpolator(itk::LinearInterpolateImageFunction<Image3D, double>::New());
  resample->SetSize({{size[0], size[1] + extra_rows, size[2]}});
  resample->SetOutputSpacing(out_spacing);
  resample->SetOutputOrigin(origin);
  resample->SetOutputDirection(Direction(geometry.row, geometry.column, geometry.normal));
  resample->SetDefaultPixelValue(darkest);
  resample->Update();
  return resample->GetOutput();
}

std::array<double, 2> InPlaneSpacing(const FileHeader& file, const FrameInfo& frame) {
  if (frame.pixel_spacing) return *frame.pixel_spacing;
  if (file.imager_pixel_spacing) return *file.imager_pixel_spacing;
  return {1.0, 1.0};
}

}  // namespace

Volume LoadSeries(const Series& series, LoadTimings* timings, const VoxelAllocator& allocate) {
  return LoadSeriesVolume(series, 0, timings, allocate);
}

std::vector<Volume> LoadSeriesVolumes(const Series& series) {
  std::vector<Volume> volumes;
  for (size_t v = 0; v < series.VolumeCount(); ++v) volumes.push_back(LoadSeriesVolume(series, v));
  return volumes;
}

Volume LoadSeriesVolume(const Series& series, size_t volume, LoadTimings* timings, const VoxelAllocator& allocate) {
  Stopwatch clock;
  if (series.Refused()) {
    throw DicomError(series.files.front().path, "series " + series.id + " is refused: " + series.refusal);
  }
  if (series.slices.empty()) throw DicomError(series.files.front().path, "series has no image frames");
  if (volume >= series.VolumeCount()) {
    throw DicomError(series.files.front().path, "series " + series.id + " has " + std::to_string(series.VolumeCount()) +
                                                    " volume(s); volume " + std::to_string(volume) + " was asked for");
  }
  const std::vector<SliceRef>& slices = series.VolumeSlices(volume);
  const FileHeader& first_file = series.files[slices.front().file];
  const FrameInfo& first_frame = first_file.frames[slices.front().frame];
  SliceStackPixels stack = DecodeSlices(series, slices, allocate);
  const double decode_ms = clock.Lap();
  // Filled as LoadSeries returns, whichever way it assembled the volume.
  const auto record = [&](Volume volume) {
    if (timings) *timings = {decode_ms, clock.Lap()};
    return volume;
  };

  const auto in_plane = InPlaneSpacing(first_file, first_frame);
  Image3D::SpacingType spacing;
  spacing[0] = in_plane[1];
  spacing[1] = in_plane[0];
  if (series.kind != SeriesKind::Volume || stack.slices == 1) {
    const auto orientation = first_frame.orientation.value_or(std::array<double, 6>{1, 0, 0, 0, 1, 0});
    const Vec3 row{orientation[0], orientation[1], orientation[2]};
    const Vec3 column{orientation[3], orientation[4], orientation[5]};
    spacing[2] = first_file.slice_thickness.value_or(1.0);
    const Vec3 origin = stack.positions.empty() ? Vec3{0, 0, 0} : stack.positions.front();
    return record(Volume{ToImages(stack, spacing, origin, Direction(row, column, Cross(row, column)))});
  }

  const SliceStack& geometry = series.stack;
  if (geometry.uneven) EqualizeSpacing(stack);
  const size_t n = stack.slices;
  Vec3 step{};
  for (int k = 0; k < 3; ++k) step[k] = (stack.positions.back()[k] - stack.positions.front()[k]) / double(n - 1);
  const double step_length = std::sqrt(Dot(step, step));
  spacing[2] = step_length;
  const Vec3 slice_axis{step[0] / step_length, step[1] / step_length, step[2] / step_length};
  auto images = ToImages(stack, spacing, stack.positions.front(), Direction(geometry.row, geometry.column, slice_axis));
  if (geometry.tilt_deg > 0) {
    for (auto& image : images) image = RemoveTilt(image, geometry, step);
  }
  return record(Volume{images});
}

}  // namespace medpipe::dicom
