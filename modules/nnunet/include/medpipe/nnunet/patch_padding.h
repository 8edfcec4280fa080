#pragma once
#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet {

// acvl_utils' pad_nd_image (constant 0) before nnU-Net's sliding window: every axis shorter than the
// patch grows to it with (patch - size) // 2 zeros before the data and the rest after. REGION is
// where the data lies in SHAPE, so Crop(padded, region) undoes it.
struct PatchPadding {
  Shape3 shape{};
  Box3 region;
};

PatchPadding PaddingFor(const Shape3& shape, const Shape3& patch);
// DATA padded with zeros as PaddingFor(DATA's shape, PATCH) says.
Array4 PadToPatch(const Array4& data, const Shape3& patch);

}  // namespace medpipe::nnunet
