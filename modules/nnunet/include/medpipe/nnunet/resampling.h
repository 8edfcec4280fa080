#pragma once
// nnU-Net's resample_data_or_seg_to_shape for images and logits (default_resampling.py): skimage's
// resize (order, mode 'edge', no anti-aliasing), i.e. scipy's zoom plus a clip to the input's range,
// computed in float64 and stored as float32.
#include <optional>

#include "medpipe/nnunet/array4.h"
#include "medpipe/nnunet/nnunet_plan.h"

namespace medpipe::nnunet {

// compute_new_shape: round(spacing / target * shape) per axis, halves to even as Python's round.
Shape3 NewShape(const Shape3& shape, const Spacing3& spacing, const Spacing3& target);

// determine_do_sep_z_and_axis: the low-resolution axis to resample on its own, or nullopt. With FORCE
// unset: CURRENT's axis of largest spacing if its max/min ratio exceeds THRESHOLD, else TARGET's if
// its ratio does; never when two axes tie for the largest spacing. FORCE true takes CURRENT's axis.
std::optional<int> SeparateZAxis(const Spacing3& current, const Spacing3& target, std::optional<bool> force,
                                 double threshold);

// How resampled values are stored: float32, or rounded to float16 from the float64 result (nnU-Net keeps
// the input's dtype: its logits are float16).
enum class Stored { Float32, Float16 };

// Rounds VALUE to the nearest float16 (ties to even), as numpy's and torch's casts do.
float RoundToHalf(double value);

// DATA (any channels) resampled to NEW_SHAPE; returned unchanged when the shape already matches.
// Without a separate axis: a 3-D zoom of spline order settings.order, clipped to each channel's
// [min, max]. With one: every slice across it zoomed in 2-D and clipped to that slice's range, then
// order_z along the axis (0: nearest voxel centre, floor(c + 0.5) clamped), not clipped.
Array4 Resample(const Array4& data, const Shape3& new_shape, const Spacing3& current, const Spacing3& target,
                const ResamplingSettings& settings, double separate_z_threshold, unsigned threads = 1,
                Stored stored = Stored::Float32);

}  // namespace medpipe::nnunet
