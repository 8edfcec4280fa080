#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>
#include <cstdlib>

#include "axial_series_writer.h"
#include "medpipe/synth/synthetic_study.h"
#include "uniform_noise.h"

namespace medpipe::synth {

namespace {

constexpr int kUidCode = 2;
constexpr int kBitsStored = 12;
constexpr int kNoise = 20;
// T1-like intensities.
constexpr int kScalp = 700;
constexpr int kSkull = 100;
constexpr int kCsf = 200;
constexpr int kGreyMatter = 600;
constexpr int kWhiteMatter = 850;
constexpr int kHippocampus = 450;

// Head ellipsoid semi-axes as fractions of the field of view along x, y, z.
constexpr double kHeadHalfExtent[3] = {0.42, 0.46, 0.45};
// Shells as fractions of the head radius, from the outside in.
constexpr double kSkullOuter = 0.92;
constexpr double kCsfOuter = 0.85;
constexpr double kBrainOuter = 0.80;
constexpr double kWhiteOuter = 0.55;
// Hippocampi: mirrored about x = 0, long along y (anterior-posterior), in head-radius units.
constexpr double kHippocampusCentre[3] = {0.30, 0.05, -0.20};
constexpr double kHippocampusHalfExtent[3] = {0.08, 0.22, 0.10};

double EllipsoidRadius(const double point[3], const double centre[3], const double half_extent[3]) {
  double sum = 0;
  for (int axis = 0; axis < 3; ++axis) {
    const double t = (point[axis] - centre[axis]) / half_extent[axis];
    sum += t * t;
  }
  return std::sqrt(sum);
}

int Intensity(const AxialGrid& grid, int column, int row, int slice) {
  // Coordinates in units of the head's semi-axes.
  const double head[3] = {grid.X(column) / (kHeadHalfExtent[0] * grid.Width()),
                          grid.Y(row) / (kHeadHalfExtent[1] * grid.Height()),
                          grid.Z(slice) / (kHeadHalfExtent[2] * grid.Depth())};
  const double origin[3] = {0, 0, 0}, unit[3] = {1, 1, 1};
  const double radius = EllipsoidRadius(head, origin, unit);
  if (radius > 1.0) return 0;
  if (radius > kSkullOuter) return kScalp;
  if (radius > kCsfOuter) return kSkull;
  if (radius > kBrainOuter) return kCsf;
  const double mirrored[3] = {std::abs(head[0]), head[1], head[2]};
  if (EllipsoidRadius(mirrored, kHippocampusCentre, kHippocampusHalfExtent) <= 1.0) return kHippocampus;
  return radius > kWhiteOuter ? kGreyMatter : kWhiteMatter;
}

void PutMrAttributes(DcmItem& item) {
  PutString(item, DCM_ImageType, "ORIGINAL\\PRIMARY\\OTHER");
  PutString(item, DCM_ScanningSequence, "GR\\IR");
  PutString(item, DCM_SequenceVariant, "SK\\SP\\MP");
  PutString(item, DCM_ScanOptions, "");
  PutString(item, DCM_MRAcquisitionType, "3D");
  PutString(item, DCM_RepetitionTime, "2300");
  PutString(item, DCM_EchoTime, "2.98");
  PutString(item, DCM_InversionTime, "900");
  PutString(item, DCM_FlipAngle, "9");
  PutString(item, DCM_EchoTrainLength, "1");
  PutString(item, DCM_EchoNumbers, "1");
  PutString(item, DCM_MagneticFieldStrength, "3");
  PutString(item, DCM_ImagingFrequency, "123.2");
  PutString(item, DCM_ImagedNucleus, "1H");
  PutString(item, DCM_AcquisitionNumber, "1");
  PutString(item, DCM_WindowCenter, "500");
  PutString(item, DCM_WindowWidth, "1000");
}

}  // namespace

std::filesystem::path WriteSyntheticMr(const std::filesystem::path& out_dir, const VolumeSpec& spec, uint32_t seed) {
  const SeriesIdentity identity{kUidCode, seed, UID_MRImageStorage, "MR", "SYNTHETIC^MR", "Synthetic T1 head phantom",
                                "HEAD"};
  UniformNoise noise(seed, kNoise);
  const auto render = [&](const AxialGrid& grid, int slice) {
    GreyImage image{spec.columns, spec.rows, kBitsStored, false, {}};
    image.pixels.reserve(static_cast<size_t>(spec.columns) * spec.rows);
    for (int row = 0; row < spec.rows; ++row) {
      for (int column = 0; column < spec.columns; ++column) {
        // Magnitude images have no negative values, so background noise is folded up.
        image.pixels.push_back(static_cast<uint16_t>(std::abs(Intensity(grid, column, row, slice) + noise.Next())));
      }
    }
    return image;
  };
  return WriteAxialSeries(out_dir, "mr", spec, identity, PutMrAttributes, render);
}

}  // namespace medpipe::synth
