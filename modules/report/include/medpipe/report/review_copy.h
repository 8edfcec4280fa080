#pragma once
// The review copy of a volume that the study page's slice viewer shows (report/<study>.html).
#include <filesystem>

#include "medpipe/core/volume.h"

namespace medpipe::report {

// Largest in-plane size (columns, rows) of a review copy, in voxels.
constexpr unsigned kReviewMaxInPlane = 512;

// A heat map's review copy holds its 0..1 values in thousandths (int16 keeps 0.001 steps exactly enough).
constexpr float kHeatmapReviewScale = 1000;

// Writes IMAGE as a NIfTI review copy (.nii.gz) to PATH: values times SCALE, rounded and clamped to int16; when
// its columns or rows exceed kReviewMaxInPlane, resampled (linear) to at most that many over the same
// extent, so the corners, direction and slices stay where they are in patient space (LPS) and only the
// in-plane spacing grows. Throws IoError when PATH cannot be written.
void WriteReviewImage(const Image3D& image, const std::filesystem::path& path, float scale = 1);

}  // namespace medpipe::report
