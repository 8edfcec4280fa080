#pragma once
// NIfTI in and out through ITK, which converts between LPS (ours) and NIfTI's RAS.
#include <filesystem>
#include <vector>

#include "medpipe/core/volume.h"

namespace medpipe {

// Writes VOLUME as .nii or .nii.gz. Integer-valued greyscale is stored as int16 or uint16 when it
// fits (as dcm2niix does), otherwise float32; colour as RGB24.
void WriteNifti(const Volume& volume, const std::filesystem::path& path);

// Writes the greyscale VOLUMES of a 4-D series (one grid) as one 4-D NIfTI, volume after volume,
// SECONDS_PER_VOLUME (the repetition time; 0 when unknown, written as 1) as the fourth spacing; the
// voxel type is chosen over all volumes as WriteNifti does. One volume is written as WriteNifti does.
void WriteNifti4D(const std::vector<Volume>& volumes, const std::filesystem::path& path, double seconds_per_volume);

// Reads each volume of a 3-D or 4-D greyscale NIfTI as float voxels on the file's spatial grid.
std::vector<Image3D::Pointer> ReadNiftiVolumes(const std::filesystem::path& path);

// Writes a label mask as uint8 NIfTI on its own grid.
void WriteLabelNifti(const LabelImage& labels, const std::filesystem::path& path);

// Reads a label mask written by WriteLabelNifti.
LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path);

// Reads a greyscale NIfTI as float voxels (scl_slope/scl_inter applied).
Image3D::Pointer ReadNifti(const std::filesystem::path& path);

}  // namespace medpipe
