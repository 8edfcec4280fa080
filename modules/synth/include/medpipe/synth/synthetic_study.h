#pragma once
// Small synthetic studies written as real DICOM files, so demos and tests need no patient data.
// Output is byte-identical for the same arguments: dates are fixed, noise and UIDs derive from the seed.
// UIDs depend on the seed and modality only, so a different spec needs a different seed to stay unique;
// other encodings of the same seed are the same SOP instances in another transfer syntax.
#include <cstdint>
#include <filesystem>

namespace medpipe::synth {

// Transfer syntax of the written files; all are lossless.
enum class Encoding { ExplicitLittle, JpegLsLossless, Jpeg2000Lossless };

// Axial volume; spacing_mm is column (x), row (y), slice (z) spacing in mm.
struct VolumeSpec {
  int columns = 64, rows = 64, slices = 40;
  double spacing_mm[3] = {1.0, 1.0, 2.0};
  Encoding encoding = Encoding::ExplicitLittle;
};

// A sphere in patient space: centre in mm (LPS) and as a voxel index (column, row, slice).
struct Sphere {
  double centre_mm[3];
  int centre_voxel[3];
  double radius_mm;
};

// The CT lesion (100 HU in 40 HU tissue) that WriteSyntheticCt draws for this spec.
Sphere SyntheticCtLesion(const VolumeSpec& spec);

// Each writer creates out_dir/<ct|mr|dx>/ and returns it; that folder must not hold files yet.
// Volumes are one file per slice, slice_NNNN.dcm with NNNN = InstanceNumber = 1 + index along +z.
// Throws medpipe::ConfigError for a size below 1 or a spacing not above 0, medpipe::IoError when writing fails.

// CT Image Storage, int16 HU via RescaleIntercept -1024: air, body, bony ring, one lesion.
std::filesystem::path WriteSyntheticCt(const std::filesystem::path& out_dir, const VolumeSpec& spec, uint32_t seed);
// MR Image Storage, uint16 (12 bits): head with grey and white matter and two hippocampus-like blobs.
std::filesystem::path WriteSyntheticMr(const std::filesystem::path& out_dir, const VolumeSpec& spec, uint32_t seed);
// Digital X-Ray For Presentation, one PA chest-like image.dcm, uint16 (12 bits), 0.5 mm pixels.
std::filesystem::path WriteSyntheticDx(const std::filesystem::path& out_dir, int columns, int rows, uint32_t seed);

// The demo set: out_dir/ct, out_dir/mr and out_dir/dx, uncompressed, under 1 MB in all.
void WriteDemoStudies(const std::filesystem::path& out_dir);

}  // namespace medpipe::synth
