#pragma once
// TotalSegmentator's steps around nnU-Net (nnUNet_predict_image in its nnunet.py): the image turned to
// the closest canonical RAS orientation (nibabel's as_closest_canonical), resampled to the task's
// isotropic spacing with scipy.ndimage.zoom (order 3, cast to int32), and the labels zoomed back
// (order 0) and turned back (undo_canonical). Arrays as nibabel indexes them: voxel (i, j, k) with i
// fastest in memory, i.e. a Grid3 of shape {nk, nj, ni} holding ITK's buffer.
#include <array>

#include "medpipe/core/volume.h"
#include "medpipe/nnunet/spline_zoom.h"

namespace medpipe::nnunet {

// Voxel (i, j, k, 1) to RAS+ millimetres, as nibabel's affine.
using Affine4 = std::array<std::array<double, 4>, 4>;

// nibabel.orientations.io_orientation: voxel axis a runs along RAS axis `ras_axis[a]`, towards its
// negative end when `flipped[a]`.
struct AxisOrientation {
  std::array<int, 3> ras_axis{0, 1, 2};
  std::array<bool, 3> flipped{false, false, false};
};

// An image or label map with its affine.
struct OrientedGrid {
  Grid3 grid;  // shape {nk, nj, ni}
  Affine4 affine{};
};

// The affine of an image with ITK's geometry: ORIGIN (mm, LPS), DIRECTION (LPS, column c the direction
// of voxel axis c) and SPACING (mm along i, j, k).
Affine4 RasAffine(const std::array<double, 3>& origin, const std::array<std::array<double, 3>, 3>& direction,
                  const Spacing3& spacing);

// IMAGE's voxels (ITK's buffer) and the affine of its geometry.
OrientedGrid OrientedGridOf(const Image3D& image);

// The closest RAS axis of each voxel axis of AFFINE (nearest orthogonal matrix, axes taken greedily).
AxisOrientation ClosestRasAxes(const Affine4& affine);

// nib.as_closest_canonical: IMAGE reoriented so that voxel axis a runs along RAS axis a, positive.
OrientedGrid ToClosestCanonical(const OrientedGrid& image);

// undo_canonical: CANONICAL (on the canonical grid of an image with affine ORIGINAL) in ORIGINAL's voxel order.
Grid3 FromClosestCanonical(const Grid3& canonical, const Affine4& original);

// The voxel sizes nibabel records for AFFINE (its header zooms): the column lengths, in float32.
Spacing3 NiftiZooms(const Affine4& affine);

// change_spacing(IMAGE, [SPACING_MM] * 3, order=3, dtype=np.int32): the shape round(n * zoom) with
// zoom = header zoom / SPACING_MM, the spline values truncated toward zero, the affine's columns
// divided by the zooms. THREADS share the lines.
OrientedGrid ResampleImage(const OrientedGrid& image, double spacing_mm, unsigned threads);

// change_spacing(LABELS, ..., target_shape=SHAPE, order=0): nearest voxel at scipy's sample positions,
// {nk, nj, ni} = SHAPE.
Grid3 ResampleLabels(const Grid3& labels, const Shape3& shape, unsigned threads);

}  // namespace medpipe::nnunet
