#include "medpipe/nnunet/largest_component.h"

#include <algorithm>
#include <cstdint>

#include <itkConnectedComponentImageFilter.h>

namespace medpipe::nnunet {

void KeepLargestComponent(LabelImage& labels, const std::vector<int>& values) {
  using ComponentImage = itk::Image<uint32_t, 3>;
  std::vector<bool> selected(256, false);
  for (int value : values)
    if (value > 0 && value < 256) selected[static_cast<size_t>(value)] = true;

  auto mask = LabelImage::New();
  mask->CopyInformation(&labels);
  mask->SetRegions(labels.GetLargestPossibleRegion());
  mask->Allocate();
  const size_t count = labels.GetLargestPossibleRegion().GetNumberOfPixels();
  const uint8_t* in = labels.GetBufferPointer();
  std::transform(in, in + count, mask->GetBufferPointer(), [&](uint8_t v) { return selected[v] ? 1 : 0; });

  auto components = itk::ConnectedComponentImageFilter<LabelImage, ComponentImage>::New();
  components->SetInput(mask);
  components->FullyConnectedOn();
  components->Update();
  const uint32_t* component = components->GetOutput()->GetBufferPointer();
  std::vector<uint64_t> sizes(static_cast<size_t>(components->GetObjectCount()) + 1, 0);
  for (size_t i = 0; i < count; ++i) ++sizes[component[i]];
  if (sizes.size() < 2) return;  // no voxel of these labels
  const uint64_t largest = *std::max_element(sizes.begin() + 1, sizes.end());
  uint8_t* out = labels.GetBufferPointer();
  for (size_t i = 0; i < count; ++i)
    if (component[i] != 0 && sizes[component[i]] != largest) out[i] = 0;
}

}  // namespace medpipe::nnunet
