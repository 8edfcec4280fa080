#include "medpipe/nnunet/patch_padding.h"

#include <algorithm>

namespace medpipe::nnunet {

PatchPadding PaddingFor(const Shape3& shape, const Shape3& patch) {
  PatchPadding padding;
  for (int a = 0; a < 3; ++a) {
    padding.shape[a] = std::max(shape[a], patch[a]);
    padding.region.begin[a] = (padding.shape[a] - shape[a]) / 2;
    padding.region.end[a] = padding.region.begin[a] + shape[a];
  }
  return padding;
}

Array4 PadToPatch(const Array4& data, const Shape3& patch) {
  const PatchPadding padding = PaddingFor(data.Shape(), patch);
  return Uncrop(data, padding.region, padding.shape, std::vector<float>(static_cast<size_t>(data.Channels()), 0.0f));
}

}  // namespace medpipe::nnunet
