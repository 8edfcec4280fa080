// The proof on real data: nnU-Net's reference models (../shared/data/nnunet) exported with
// scripts/nnunet_export.py, their images preprocessed by the C++ steps and by
// scripts/lib/nnunet_inference.py (which reproduces nnU-Net's predictions), and random logits mapped back.
#include <gtest/gtest.h>

#include <chrono>

#include "medpipe/nnunet/crop_to_nonzero.h"
#include "medpipe/nnunet/nnunet_plan.h"
#include "medpipe/nnunet/normalization.h"
#include "medpipe/nnunet/resampling.h"
#include "reference_support.h"

namespace medpipe::nnunet::testing {
namespace {

const std::filesystem::path kData = MEDPIPE_SHARED_DATA "/nnunet";

class NnunetRealCase : public ReferenceTest {
 protected:
  // Exports DATASET's model and checks CASES (input file stems) against the reference.
  void Check(const std::string& dataset, const std::vector<std::string>& cases) {
    if (!std::filesystem::exists(kData / dataset)) GTEST_SKIP() << kData / dataset << " is absent (see ../shared/data/README.md)";
    const std::filesystem::path model = dir_ / "model";
    const std::string command = "/usr/bin/python3 " MEDPIPE_SOURCE_DIR "/scripts/nnunet_export.py '" +
                                (kData / dataset / "model" / dataset).string() + "' --out '" + model.string() + "' > '" +
                                (dir_ / "export.log").string() + "' 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << "export failed, see " << dir_ / "export.log";
    const NnunetPlan plan = ReadNnunetPlan(model);
    for (const auto& name : cases)
      jobs_.push_back({{"op", "case"}, {"name", name}, {"image", (kData / dataset / "inputs" / (name + "_0000.nii.gz")).string()},
                       {"plan", (model / "nnunet.json").string()}, {"seed", 23}});
    const nlohmann::json results = Run();
    for (const auto& name : cases) {
      SCOPED_TRACE(name);
      const nlohmann::json& result = results[name];
      const auto start = std::chrono::steady_clock::now();
      const Array4 data = Transpose(Load(name + "_input"), plan.transpose_forward);
      Spacing3 spacing{};
      for (int a = 0; a < 3; ++a) spacing[a] = result["spacing"][plan.transpose_forward[a]];
      const NonzeroCrop crop = FindNonzeroCrop(data);
      const Array4 normalized = Normalize(Crop(data, crop.box), crop.mask, plan.normalization);
      const Shape3 shape = NewShape(normalized.Shape(), spacing, plan.spacing);
      const Array4 preprocessed = Resample(normalized, shape, spacing, plan.spacing, plan.data,
                                           plan.separate_z_anisotropy_threshold, 2);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const Array4 back = Resample(Load(name + "_logits"), normalized.Shape(), plan.spacing, spacing, plan.probabilities,
                                   plan.separate_z_anisotropy_threshold, 2);

      EXPECT_EQ(crop.box, BoxOf(result["bbox"]));
      const Difference d = Compare(preprocessed, Load(name + "_preprocessed"));
      const Difference logits = Compare(back, Load(name + "_logits_back"));
      std::cout << dataset << " " << name << ": " << data.Shape()[0] << "x" << data.Shape()[1] << "x" << data.Shape()[2]
                << " -> " << shape[0] << "x" << shape[1] << "x" << shape[2] << ", preprocessed max abs difference "
                << d.max_abs << " (relative " << d.relative << ", C++ " << seconds << " s); logits back " << logits.max_abs
                << " (relative " << logits.relative << ")\n";
      EXPECT_LE(d.relative, 1e-5);
      EXPECT_LE(logits.relative, 1e-5);
    }
  }
};

TEST_F(NnunetRealCase, HippocampusZScoreMatchesNnunetPreprocessing) {
  Check("Dataset501_Hippocampus", {"hippocampus_015", "hippocampus_020permuted"});
}

TEST_F(NnunetRealCase, CtWithTransposeAndSeparateZMatchesNnunetPreprocessing) {
  Check("Dataset502_CTOrgans", {"example_ct_sm", "example_ct_dicom"});
}

}  // namespace
}  // namespace medpipe::nnunet::testing
