// TotalSegmentator's steps around nnU-Net (modules/nnunet totalseg_*) against tests/nnunet/totalseg_reference.py,
// which follows its nnunet.py, resampling.py and alignment.py with nibabel and scipy, on the real CT of
// TotalSegmentator's example (its NIfTI conversion) and reoriented, oblique copies of a smaller CT.
#include <gtest/gtest.h>

#include <iostream>

#include "medpipe/nnunet/totalseg_resampling.h"
#include "medpipe/volume_io/nifti_io.h"
#include "reference_support.h"

namespace medpipe::nnunet::testing {
namespace {

const std::filesystem::path kInputs = MEDPIPE_SHARED_DATA "/nnunet/Dataset502_CTOrgans/inputs";

Grid3 GridOf(const Array4& array) {
  return {array.Shape(), {array.Values().begin(), array.Values().end()}};
}

void ExpectAffineNear(const Affine4& affine, const nlohmann::json& expected, double tolerance) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(affine[r][c], expected[r][c].get<double>(), tolerance) << "affine[" << r << "][" << c << "]";
}

struct Agreement {
  int64_t differing = 0;
  double max_abs = 0;
};

Agreement Agree(const Grid3& a, const Grid3& b) {
  EXPECT_EQ(a.shape, b.shape);
  Agreement agreement;
  if (a.values.size() != b.values.size()) return {INT64_MAX, INFINITY};
  for (size_t i = 0; i < a.values.size(); ++i) {
    const double d = std::abs(a.values[i] - b.values[i]);
    agreement.differing += d != 0;
    agreement.max_abs = std::max(agreement.max_abs, d);
  }
  return agreement;
}

class NnunetTotalSegmentatorSteps : public ReferenceTest {
 protected:
  void Check(const std::vector<nlohmann::json>& jobs) {
    if (!std::filesystem::exists(kInputs)) GTEST_SKIP() << kInputs << " is absent (see ../shared/data/README.md)";
    for (const auto& job : jobs) jobs_.push_back(job);
    const nlohmann::json results = Run("totalseg_reference.py");
    for (const auto& job : jobs) {
      const std::string name = job["name"];
      SCOPED_TRACE(name);
      const nlohmann::json& result = results[name];
      const OrientedGrid source = OrientedGridOf(*ReadNifti(result["source"].get<std::string>()));
      const OrientedGrid canonical = ToClosestCanonical(source);
      EXPECT_EQ(Agree(canonical.grid, GridOf(Load(name + "_canonical"))).differing, 0);
      ExpectAffineNear(canonical.affine, result["canonical_affine"], 1e-4);
      const Spacing3 zooms = NiftiZooms(canonical.affine);
      for (int a = 0; a < 3; ++a) EXPECT_EQ(zooms[a], result["canonical_zooms"][a].get<double>());

      const OrientedGrid resampled = ResampleImage(canonical, job["spacing_mm"], 2);
      const Agreement image = Agree(resampled.grid, GridOf(Load(name + "_resampled")));
      ExpectAffineNear(resampled.affine, result["resampled_affine"], 1e-4);
      const Spacing3 nnunet_zooms = NiftiZooms(resampled.affine);
      for (int a = 0; a < 3; ++a) EXPECT_EQ(nnunet_zooms[a], result["nnunet_zooms"][a].get<double>());

      const Grid3 labels_back = FromClosestCanonical(ResampleLabels(GridOf(Load(name + "_labels")), canonical.grid.shape, 2),
                                                     source.affine);
      const Agreement labels = Agree(labels_back, GridOf(Load(name + "_labels_back")));
      std::cout << name << ": " << source.grid.shape[2] << "x" << source.grid.shape[1] << "x" << source.grid.shape[0]
                << " -> " << resampled.grid.shape[2] << "x" << resampled.grid.shape[1] << "x" << resampled.grid.shape[0]
                << "; int32 image: " << image.differing << " of " << resampled.grid.values.size()
                << " voxels differ (max " << image.max_abs << "); labels back: " << labels.differing << " differ\n";
      // Bit for bit: the int32 cast truncates, so a sum rounded otherwise than scipy's would move a voxel by 1.
      EXPECT_EQ(image.differing, 0);
      EXPECT_EQ(labels.differing, 0);
    }
  }
};

TEST_F(NnunetTotalSegmentatorSteps, ExampleCtFromDicomMatchesTotalSegmentator) {
  Check({{{"op", "resample"}, {"name", "example_ct_dicom"}, {"spacing_mm", 1.5},
          {"image", (kInputs / "example_ct_dicom_0000.nii.gz").string()}}});
}

TEST_F(NnunetTotalSegmentatorSteps, ReorientedAndObliqueCopiesMatchTotalSegmentator) {
  const std::string image = (kInputs / "example_ct_sm_0000.nii.gz").string();
  Check({{{"op", "resample"}, {"name", "permuted"}, {"spacing_mm", 1.5}, {"image", image},
          {"transpose", {2, 0, 1}}, {"flip", {1}}},
         {{"op", "resample"}, {"name", "oblique_fast"}, {"spacing_mm", 3.0}, {"image", image},
          {"transpose", {1, 2, 0}}, {"flip", {0, 2}}, {"rotate_deg", 25}},
         {{"op", "resample"}, {"name", "oblique"}, {"spacing_mm", 2.0}, {"image", image},
          {"transpose", {1, 2, 0}}, {"flip", {0, 2}}, {"rotate_deg", 25}}});
}

}  // namespace
}  // namespace medpipe::nnunet::testing
