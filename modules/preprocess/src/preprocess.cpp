#include "medpipe/preprocess/preprocess.h"

#include <itkBSplineInterpolateImageFunction.h>
#include <itkClampImageFilter.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborExtrapolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkOrientImageFilter.h>
#include <itkResampleImageFilter.h>
#include <itkShiftScaleImageFilter.h>
#include <itkStatisticsImageFilter.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "medpipe/core/error.h"
#include "medpipe/core/percentile.h"

namespace medpipe::preprocess {
namespace {

using Scheme = model::Normalisation::Scheme;
using Interpolator = itk::InterpolateImageFunction<Image3D, double>;
using Extrapolator = itk::ExtrapolateImageFunction<Image3D, double>;

// A voxel grid in patient space; the origin is the centre of voxel index 0.
struct Grid {
  Image3D::SizeType size;
  Image3D::SpacingType spacing;
  Image3D::PointType origin;
  Image3D::DirectionType direction;

  bool operator==(const Grid& other) const {
    return size == other.size && spacing == other.spacing && origin == other.origin && direction == other.direction;
  }
};

Grid GridOf(const Image3D& image) {
  const auto& region = image.GetLargestPossibleRegion();
  Grid grid{region.GetSize(), image.GetSpacing(), {}, image.GetDirection()};
  image.TransformIndexToPhysicalPoint(region.GetIndex(), grid.origin);
  return grid;
}

// Over the same patient extent as IMAGE: resized or respaced with the edge extent centred on the
// source's, then padded symmetrically (the odd voxel at the end) up to min_size.
Grid ModelGrid(const Image3D& image, const Spec& spec) {
  Grid grid = GridOf(image);
  itk::Vector<double, 3> shift;  // mm along each index axis
  for (unsigned a = 0; a < 3; ++a) {
    const double spacing = grid.spacing[a];
    const double extent = static_cast<double>(grid.size[a]) * spacing;
    if (spec.size) {
      grid.size[a] = static_cast<Image3D::SizeValueType>((*spec.size)[a]);
      grid.spacing[a] = extent / static_cast<double>(grid.size[a]);
    } else if (spec.spacing_mm && grid.size[a] > 1) {  // a 2D image keeps its single slice
      grid.spacing[a] = (*spec.spacing_mm)[a];
      grid.size[a] = static_cast<Image3D::SizeValueType>(std::max(1LL, std::llround(extent / grid.spacing[a])));
    }
    shift[a] = (grid.spacing[a] - spacing) / 2 + (extent - static_cast<double>(grid.size[a]) * grid.spacing[a]) / 2;
    const auto wanted = static_cast<Image3D::SizeValueType>(spec.min_size[a]);
    if (grid.size[a] < wanted) {
      shift[a] -= static_cast<double>((wanted - grid.size[a]) / 2) * grid.spacing[a];
      grid.size[a] = wanted;
    }
  }
  grid.origin += grid.direction * shift;
  return grid;
}

void RequireVoxels(const char* key, const std::array<int64_t, 3>& size) {
  for (int a = 0; a < 3; ++a) {
    if (size[a] < 1) {
      throw ConfigError(key, "is " + std::to_string(size[a]) + " on axis " + std::to_string(a) +
                                 "; the model grid needs at least one voxel per axis");
    }
  }
}

void Validate(const Spec& spec) {
  if (!spec.orientation.empty()) DirectionFor(spec.orientation);
  for (int a = 0; spec.spacing_mm && a < 3; ++a) {
    if (!((*spec.spacing_mm)[a] > 0)) {
      throw ConfigError("spacing_mm", "is " + std::to_string((*spec.spacing_mm)[a]) + " on axis " + std::to_string(a) +
                                          "; spacing must be positive");
    }
  }
  if (spec.size) RequireVoxels("size", *spec.size);
  RequireVoxels("min_size", spec.min_size);
  if (spec.normalisation.scheme == Scheme::Ct && !(spec.normalisation.std > 0)) {
    throw ConfigError("normalisation.std", "is " + std::to_string(spec.normalisation.std) + "; must be positive");
  }
}

Image3D::Pointer Reorient(const Image3D::Pointer& image, const Image3D::DirectionType& direction) {
  auto orient = itk::OrientImageFilter<Image3D, Image3D>::New();
  orient->UseImageDirectionOn();
  orient->SetDesiredCoordinateDirection(direction);
  orient->SetInput(image);
  orient->Update();
  return orient->GetOutput();
}

// x -> (clamp(x) + shift) * scale, one map for all channels so colour keeps its balance.
struct IntensityMap {
  std::optional<std::pair<double, double>> clamp;
  double shift = 0;
  double scale = 1;
};

struct Summary {
  double mean = 0, std = 0, min = 0, max = 0;
};

// Over every channel's voxels; std is the population one (numpy's, as nnU-Net uses).
Summary Summarise(const std::vector<Image3D::Pointer>& channels) {
  double count = 0, sum = 0, sum_of_squares = 0;
  Summary summary{0, 0, std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest()};
  for (const auto& channel : channels) {
    auto statistics = itk::StatisticsImageFilter<Image3D>::New();
    statistics->SetInput(channel);
    statistics->Update();
    count += static_cast<double>(channel->GetLargestPossibleRegion().GetNumberOfPixels());
    sum += statistics->GetSum();
    sum_of_squares += statistics->GetSumOfSquares();
    summary.min = std::min<double>(summary.min, statistics->GetMinimum());
    summary.max = std::max<double>(summary.max, statistics->GetMaximum());
  }
  // A constant image has std 0 exactly, not the rounding residue of the sums.
  if (summary.min == summary.max) return {summary.min, 0, summary.min, summary.max};
  summary.mean = sum / count;
  summary.std = std::sqrt(std::max(0.0, sum_of_squares / count - summary.mean * summary.mean));
  return summary;
}

// Equal LOW and HIGH (a constant image) map everything to 0.
IntensityMap RangeToUnit(std::optional<std::pair<double, double>> clamp, double low, double high) {
  return {clamp, -low, high > low ? 1 / (high - low) : 1};
}

IntensityMap MapFor(const model::Normalisation& normalisation, const std::vector<Image3D::Pointer>& channels) {
  switch (normalisation.scheme) {
    case Scheme::Ct:
      return {std::make_pair(normalisation.lower, normalisation.upper), -normalisation.mean, 1 / normalisation.std};
    case Scheme::ZScore: {
      const Summary summary = Summarise(channels);
      return {std::nullopt, -summary.mean, summary.std > 0 ? 1 / summary.std : 1};
    }
    case Scheme::Percentile: {
      std::vector<float> values;
      for (const auto& channel : channels) {
        const float* begin = channel->GetBufferPointer();
        values.insert(values.end(), begin, begin + channel->GetBufferedRegion().GetNumberOfPixels());
      }
      const double low = Percentile(values, normalisation.lower);
      const double high = Percentile(values, normalisation.upper);
      return RangeToUnit(std::make_pair(low, high), low, high);
    }
    case Scheme::MinMax: {
      const Summary summary = Summarise(channels);
      return RangeToUnit(std::nullopt, summary.min, summary.max);
    }
  }
  throw InternalError("normalisation", "unknown scheme");
}

Image3D::Pointer Normalise(Image3D::Pointer image, const IntensityMap& map) {
  if (map.clamp) {
    auto clamp = itk::ClampImageFilter<Image3D, Image3D>::New();
    clamp->SetInput(image);
    clamp->SetBounds(static_cast<float>(map.clamp->first), static_cast<float>(map.clamp->second));
    clamp->Update();
    image = clamp->GetOutput();
  }
  auto shift_scale = itk::ShiftScaleImageFilter<Image3D, Image3D>::New();
  shift_scale->SetInput(image);
  shift_scale->SetShift(map.shift);
  shift_scale->SetScale(map.scale);
  shift_scale->Update();
  return shift_scale->GetOutput();
}

Interpolator::Pointer MakeInterpolator(model::Interpolation interpolation) {
  if (interpolation == model::Interpolation::BSpline) {
    auto bspline = itk::BSplineInterpolateImageFunction<Image3D, double, double>::New();
    bspline->SetSplineOrder(3);
    return bspline;
  }
  return itk::LinearInterpolateImageFunction<Image3D, double>::New();
}

// Identity transform: values move only between grids, never in patient space. Without an
// extrapolator, voxels outside IMAGE get 0.
template <class TImage>
typename TImage::Pointer ResampleOnto(const TImage& image, const Grid& grid,
                                      itk::InterpolateImageFunction<TImage, double>* interpolator,
                                      itk::ExtrapolateImageFunction<TImage, double>* extrapolator) {
  auto resample = itk::ResampleImageFilter<TImage, TImage>::New();
  resample->SetInput(&image);
  resample->SetInterpolator(interpolator);
  resample->SetExtrapolator(extrapolator);
  resample->SetDefaultPixelValue(0);
  resample->SetSize(grid.size);
  resample->SetOutputSpacing(grid.spacing);
  resample->SetOutputOrigin(grid.origin);
  resample->SetOutputDirection(grid.direction);
  resample->Update();
  return resample->GetOutput();
}

}  // namespace

Spec SpecFor(const model::Manifest& manifest) {
  Spec spec;
  spec.orientation = manifest.orientation;
  spec.interpolation = manifest.interpolation;
  spec.normalisation = manifest.normalisation;
  if (manifest.task == model::Task::Segmentation) {
    spec.spacing_mm = manifest.spacing_mm;
    spec.min_size = manifest.patch_size;
  } else {
    spec.size = manifest.patch_size;
  }
  return spec;
}

Volume Prepare(const Volume& source, const Spec& spec) {
  if (source.channels.empty()) throw InternalError("preprocess", "the source volume has no channels");
  Validate(spec);
  Volume prepared;
  for (const auto& channel : source.channels) {
    prepared.channels.push_back(spec.orientation.empty() ? channel : Reorient(channel, DirectionFor(spec.orientation)));
  }
  const IntensityMap map = MapFor(spec.normalisation, prepared.channels);
  const Grid reoriented = GridOf(prepared.Grid());
  const Grid grid = ModelGrid(prepared.Grid(), spec);
  // The same grid starting at index 0 needs no interpolation: values stay bit-exact.
  const bool resample =
      !(grid == reoriented) || prepared.Grid().GetLargestPossibleRegion().GetIndex() != Image3D::IndexType{{0, 0, 0}};
  for (auto& channel : prepared.channels) {
    channel = Normalise(channel, map);
    if (resample) channel = ResampleOnto<Image3D>(*channel, grid, MakeInterpolator(spec.interpolation), nullptr);
  }
  return prepared;
}

Image3D::DirectionType DirectionFor(const std::string& orientation) {
  // Towards convention: letter pairs along LPS x, y, z, the first pointing to +.
  static const std::string kLetters = "LRPASI";
  const auto fail = [&orientation]() {
    return ConfigError("orientation", "is '" + orientation + "'; expected three letters from " + kLetters +
                                          ", one per axis, such as RAS or LPS");
  };
  if (orientation.size() != 3) throw fail();
  Image3D::DirectionType direction;
  direction.Fill(0);
  std::array<bool, 3> used{};
  for (unsigned column = 0; column < 3; ++column) {
    const auto at = kLetters.find(orientation[column]);
    if (at == std::string::npos || used[at / 2]) throw fail();
    used[at / 2] = true;
    direction[at / 2][column] = at % 2 == 0 ? 1 : -1;
  }
  return direction;
}

Image3D::Pointer MapBack(const Image3D& model_space, const Image3D& reference) {
  return ResampleOnto<Image3D>(model_space, GridOf(reference), itk::LinearInterpolateImageFunction<Image3D, double>::New(),
                      itk::NearestNeighborExtrapolateImageFunction<Image3D, double>::New());
}

LabelImage::Pointer MapBackLabels(const LabelImage& model_space, const Image3D& reference) {
  return ResampleOnto<LabelImage>(model_space, GridOf(reference),
                      itk::NearestNeighborInterpolateImageFunction<LabelImage, double>::New(),
                      itk::NearestNeighborExtrapolateImageFunction<LabelImage, double>::New());
}

}  // namespace medpipe::preprocess
