#include "medpipe/synth/synthetic_study.h"

namespace medpipe::synth {

namespace {
constexpr uint32_t kDemoSeed = 1511;
constexpr int kDxSize = 256;
}  // namespace

// About 0.33 MB of CT, 0.26 MB of MR and 0.13 MB of DX pixels, plus headers.
void WriteDemoStudies(const std::filesystem::path& out_dir) {
  WriteSyntheticCt(out_dir, VolumeSpec{}, kDemoSeed);
  VolumeSpec mr;
  mr.slices = 32;
  WriteSyntheticMr(out_dir, mr, kDemoSeed);
  WriteSyntheticDx(out_dir, kDxSize, kDxSize, kDemoSeed);
}

}  // namespace medpipe::synth
