#pragma once
// NIfTI in and out through ITK, which converts between LPS (ours) and NIfTI's RAS.
#include <filesystem>

#include "medpipe/core/volume.h"

namespace medpipe {

// Writes VOLUME as .nii or .nii.gz. Integer-valued greyscale is stored as int16 or uint16 when it
// fits (as dcm2niix does), otherwise float32; colour as RGB24.
void WriteNifti(const Volume& volume, const std::filesystem::path& path);

// Writes a label mask as uint8 NIfTI on its own grid.
void WriteLabelNifti(const LabelImage& labels, const std::filesystem::path& path);

// Reads a label mask written by WriteLabelNifti.
LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path);

// Reads a greyscale NIfTI as float voxels (scl_slope/scl_inter applied).
Image3D::Pointer ReadNifti(const std::filesystem::path& path);

}  // namespace medpipe
