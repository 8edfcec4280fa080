#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>

#include "axial_series_writer.h"
#include "medpipe/synth/synthetic_study.h"
#include "uniform_noise.h"

namespace medpipe::synth {

namespace {

constexpr int kUidCode = 1;
constexpr int kRescaleIntercept = -1024;
constexpr int kAirHu = -1000;
constexpr int kTissueHu = 40;
constexpr int kBoneHu = 700;
constexpr int kLesionHu = 100;
constexpr int kNoiseHu = 10;
constexpr double kLesionRadiusMm = 8.0;
// Body: elliptical cylinder along z; semi-axes as fractions of the field of view.
constexpr double kBodyHalfWidth = 0.44;
constexpr double kBodyHalfHeight = 0.36;
// Bony ring between these fractions of the body radius.
constexpr double kBoneInner = 0.80;
constexpr double kBoneOuter = 0.88;

int NearestIndex(double mm, double spacing, int count) {
  const int index = static_cast<int>(std::lround(mm / spacing + 0.5 * (count - 1)));
  return index < 0 ? 0 : (index >= count ? count - 1 : index);
}

int TissueHu(const AxialGrid& grid, const Sphere& lesion, int column, int row, int slice) {
  const double x = grid.X(column), y = grid.Y(row), z = grid.Z(slice);
  const double body_radius = std::hypot(x / (kBodyHalfWidth * grid.Width()), y / (kBodyHalfHeight * grid.Height()));
  if (body_radius > 1.0) return kAirHu;
  if (body_radius >= kBoneInner && body_radius <= kBoneOuter) return kBoneHu;
  const double dx = x - lesion.centre_mm[0], dy = y - lesion.centre_mm[1], dz = z - lesion.centre_mm[2];
  if (dx * dx + dy * dy + dz * dz <= lesion.radius_mm * lesion.radius_mm) return kLesionHu;
  return kTissueHu;
}

void PutCtAttributes(DcmItem& item) {
  PutString(item, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  PutString(item, DCM_RescaleIntercept, std::to_string(kRescaleIntercept));
  PutString(item, DCM_RescaleSlope, "1");
  PutString(item, DCM_RescaleType, "HU");
  PutString(item, DCM_KVP, "120");
  PutString(item, DCM_AcquisitionNumber, "1");
  PutString(item, DCM_WindowCenter, "40");
  PutString(item, DCM_WindowWidth, "400");
}

}  // namespace

Sphere SyntheticCtLesion(const VolumeSpec& spec) {
  const AxialGrid grid(spec);
  // Off-centre towards patient left and anterior, well inside the bony ring.
  const int voxel[3] = {NearestIndex(0.32 * kBodyHalfWidth * grid.Width(), spec.spacing_mm[0], spec.columns),
                        NearestIndex(-0.13 * kBodyHalfHeight * grid.Height(), spec.spacing_mm[1], spec.rows),
                        spec.slices / 2};
  return Sphere{
      {grid.X(voxel[0]), grid.Y(voxel[1]), grid.Z(voxel[2])}, {voxel[0], voxel[1], voxel[2]}, kLesionRadiusMm};
}

std::filesystem::path WriteSyntheticCt(const std::filesystem::path& out_dir, const VolumeSpec& spec, uint32_t seed) {
  const Sphere lesion = SyntheticCtLesion(spec);
  const SeriesIdentity identity{kUidCode, seed, UID_CTImageStorage, "CT", "SYNTHETIC^CT", "Synthetic CT phantom",
                                "ABDOMEN"};
  UniformNoise noise(seed, kNoiseHu);
  const auto render = [&](const AxialGrid& grid, int slice) {
    GreyImage image{spec.columns, spec.rows, 16, true, {}};
    image.pixels.reserve(static_cast<size_t>(spec.columns) * spec.rows);
    for (int row = 0; row < spec.rows; ++row) {
      for (int column = 0; column < spec.columns; ++column) {
        int hu = TissueHu(grid, lesion, column, row, slice);
        if (hu != kAirHu) hu += noise.Next();
        image.pixels.push_back(static_cast<uint16_t>(static_cast<int16_t>(hu - kRescaleIntercept)));
      }
    }
    return image;
  };
  return WriteAxialSeries(out_dir, "ct", spec, identity, PutCtAttributes, render);
}

}  // namespace medpipe::synth
