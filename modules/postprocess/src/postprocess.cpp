#include "medpipe/postprocess/postprocess.h"

#include <itkBinaryFillholeImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkConstantPadImageFilter.h>
#include <itkImageRegionConstIterator.h>
#include <itkImageRegionIterator.h>
#include <itkLabelImageToShapeLabelMapFilter.h>
#include <itkRegionOfInterestImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "medpipe/core/error.h"
#include "medpipe/core/percentile.h"

namespace medpipe::postprocess {
namespace {

using ComponentImage = itk::Image<uint32_t, 3>;
using ComponentFilter = itk::ConnectedComponentImageFilter<LabelImage, ComponentImage>;

constexpr const char* kWhere = "model output";

uint8_t LabelValue(const model::Label& label) {
  if (label.value < 1 || label.value > 255) {
    throw ModelError(kWhere, "label '" + label.name + "' has value " + std::to_string(label.value) +
                                 "; label images hold values 1 to 255");
  }
  return static_cast<uint8_t>(label.value);
}

double VoxelMm3(const LabelImage& labels) {
  const auto& spacing = labels.GetSpacing();
  return spacing[0] * spacing[1] * spacing[2];
}

// 1 where LABELS is VALUE, else 0.
LabelImage::Pointer Mask(const LabelImage& labels, uint8_t value) {
  auto threshold = itk::BinaryThresholdImageFilter<LabelImage, LabelImage>::New();
  threshold->SetInput(&labels);
  threshold->SetLowerThreshold(value);
  threshold->SetUpperThreshold(value);
  threshold->SetInsideValue(1);
  threshold->SetOutsideValue(0);
  threshold->Update();
  return threshold->GetOutput();
}

ComponentFilter::Pointer Components(const LabelImage& mask) {
  auto components = ComponentFilter::New();
  components->SetInput(&mask);
  components->FullyConnectedOff();
  components->Update();
  return components;
}

// The mask with its enclosed background filled. A size-1 axis (a 2D image) would put every voxel
// on the image border, so that axis is padded with foreground: in-plane holes stay enclosed.
// Same indices as MASK.
LabelImage::Pointer FilledHoles(const LabelImage::Pointer& mask) {
  LabelImage::SizeType flat_axes{{0, 0, 0}};
  for (unsigned a = 0; a < 3; ++a) flat_axes[a] = mask->GetLargestPossibleRegion().GetSize()[a] == 1 ? 1 : 0;
  auto pad = itk::ConstantPadImageFilter<LabelImage, LabelImage>::New();
  pad->SetInput(mask);
  pad->SetPadBound(flat_axes);
  pad->SetConstant(1);
  auto fill = itk::BinaryFillholeImageFilter<LabelImage>::New();
  fill->SetInput(pad->GetOutput());
  fill->SetForegroundValue(1);
  fill->FullyConnectedOff();
  fill->Update();
  return fill->GetOutput();
}

void FillHoles(LabelImage& labels, uint8_t value) {
  const auto filled = FilledHoles(Mask(labels, value));
  itk::ImageRegionConstIterator<LabelImage> in(filled, labels.GetLargestPossibleRegion());
  itk::ImageRegionIterator<LabelImage> out(&labels, labels.GetLargestPossibleRegion());
  for (; !out.IsAtEnd(); ++in, ++out) {
    if (in.Get() == 1 && out.Get() == 0) out.Set(value);
  }
}

// Components below MIN_VOXELS go, and with LARGEST_ONLY all but the largest.
void DropComponents(LabelImage& labels, uint8_t value, uint64_t min_voxels, bool largest_only) {
  auto relabel = itk::RelabelComponentImageFilter<ComponentImage, ComponentImage>::New();
  relabel->SetInput(Components(*Mask(labels, value))->GetOutput());
  relabel->SetMinimumObjectSize(min_voxels);
  relabel->Update();
  itk::ImageRegionConstIterator<ComponentImage> rank(relabel->GetOutput(), labels.GetLargestPossibleRegion());
  itk::ImageRegionIterator<LabelImage> out(&labels, labels.GetLargestPossibleRegion());
  for (; !out.IsAtEnd(); ++rank, ++out) {
    if (out.Get() == value && (rank.Get() == 0 || (largest_only && rank.Get() != 1))) out.Set(0);
  }
}

using ShapeFilter = itk::LabelImageToShapeLabelMapFilter<LabelImage>;

ShapeFilter::OutputImageType::Pointer ShapeMap(const LabelImage& labels) {
  auto shapes = ShapeFilter::New();
  shapes->SetInput(&labels);
  shapes->SetBackgroundValue(0);
  shapes->ComputePerimeterOn();
  shapes->Update();
  return shapes->GetOutput();
}

LabelShape ShapeOf(const ShapeFilter::OutputImageType::LabelObjectType& object) {
  LabelShape shape;
  const auto box = object.GetBoundingBox();
  shape.surface_mm2 = object.GetPerimeter();
  shape.sphericity = object.GetRoundness();
  for (unsigned k = 0; k < 3; ++k) {
    shape.centroid_mm[k] = object.GetCentroid()[k];
    shape.first_voxel[k] = box.GetIndex()[k];
    shape.last_voxel[k] = box.GetIndex()[k] + static_cast<int64_t>(box.GetSize()[k]) - 1;
  }
  return shape;
}

// The intensities under each label value (COUNTS voxels each): exact percentiles need them all,
// and mean, deviation and extremes then come from the same pass (ITK's label statistics took longer
// than everything else together on a 512 x 512 x 300 CT, and its percentiles come from a histogram).
std::array<std::vector<float>, 256> ValuesUnder(const LabelImage& labels, const Image3D& intensities,
                                                const std::array<uint64_t, 256>& counts) {
  std::array<std::vector<float>, 256> values;
  for (size_t value = 1; value < values.size(); ++value) values[value].reserve(counts[value]);
  itk::ImageRegionConstIterator<Image3D> intensity(&intensities, intensities.GetLargestPossibleRegion());
  for (itk::ImageRegionConstIterator<LabelImage> label(&labels, labels.GetLargestPossibleRegion()); !label.IsAtEnd();
       ++label, ++intensity) {
    if (label.Get() != 0) values[label.Get()].push_back(intensity.Get());
  }
  return values;
}

// Mean, sample standard deviation, extremes and percentiles of VALUES (at least one).
LabelIntensity IntensityOf(std::vector<float> values) {
  LabelIntensity intensity;
  const auto [min, max] = std::minmax_element(values.begin(), values.end());
  intensity.min = *min;
  intensity.max = *max;
  const auto count = static_cast<double>(values.size());
  double sum = 0;
  for (const float value : values) sum += value;
  intensity.mean = sum / count;
  double squares = 0;
  for (const float value : values) squares += (value - intensity.mean) * (value - intensity.mean);
  intensity.std = values.size() > 1 ? std::sqrt(squares / (count - 1)) : 0;
  // Last: Percentile reorders VALUES.
  intensity.p5 = Percentile(values, 5);
  intensity.p25 = Percentile(values, 25);
  intensity.median = Percentile(values, 50);
  intensity.p75 = Percentile(values, 75);
  intensity.p95 = Percentile(values, 95);
  return intensity;
}

}  // namespace

void Clean(LabelImage& labels, const model::Postprocessing& rules, const std::vector<model::Label>& label_list) {
  // Rounded up: a component is kept when voxels * voxel volume >= min_component_mm3; the slack
  // keeps an exact multiple from being pushed up by float error.
  const auto min_voxels =
      static_cast<uint64_t>(std::max(1.0, std::ceil(rules.min_component_mm3 / VoxelMm3(labels) * (1 - 1e-9))));
  for (const model::Label& label : label_list) {
    const uint8_t value = LabelValue(label);
    if (rules.fill_holes) FillHoles(labels, value);
    if (min_voxels > 1 || rules.largest_component) DropComponents(labels, value, min_voxels, rules.largest_component);
  }
  labels.Modified();
}

std::vector<LabelMeasure> Measure(const LabelImage& labels, const std::vector<model::Label>& label_list,
                                  const Image3D* intensities) {
  if (intensities && intensities->GetLargestPossibleRegion() != labels.GetLargestPossibleRegion())
    throw InternalError(kWhere, "intensities and labels are on different grids");
  std::array<uint64_t, 256> counts{};
  for (itk::ImageRegionConstIterator<LabelImage> it(&labels, labels.GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    ++counts[it.Get()];
  }
  const auto shapes = ShapeMap(labels);
  auto values = intensities ? ValuesUnder(labels, *intensities, counts) : std::array<std::vector<float>, 256>{};
  std::vector<LabelMeasure> measures;
  for (const model::Label& label : label_list) {
    const uint8_t value = LabelValue(label);
    LabelMeasure measure{label.value, label.name, counts[value], 0, 0, std::nullopt, std::nullopt};
    measure.volume_ml = static_cast<double>(measure.voxels) * VoxelMm3(labels) / 1000;
    if (measure.voxels > 0) {
      const auto& object = *shapes->GetLabelObject(value);
      // The label alone within its bounding box: counting its components needs no more of the image.
      auto crop = itk::RegionOfInterestImageFilter<LabelImage, LabelImage>::New();
      crop->SetInput(&labels);
      crop->SetRegionOfInterest(object.GetBoundingBox());
      crop->Update();
      const auto mask = Mask(*crop->GetOutput(), value);
      measure.components = Components(*mask)->GetObjectCount();
      measure.shape = ShapeOf(object);
      if (intensities) measure.intensity = IntensityOf(std::move(values[value]));
    }
    measures.push_back(measure);
  }
  return measures;
}

}  // namespace medpipe::postprocess
