// Ingest against other tools' reference outputs in ../shared/data.
#include <gtest/gtest.h>

#include <cstdlib>
#include <itkImageFileReader.h>
#include <itkRGBAPixel.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/dicom/csa_header.h"
#include "medpipe/dicom/diffusion_table.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/volume_io/nifti_io.h"
#include "reference_compare.h"
#include "test_support.h"

namespace medpipe::dicom {
namespace {

using testing::SharedData;
namespace fs = std::filesystem;

ArchiveIndex Index(const fs::path& folder) { return BuildIndex(ScanArchive(folder)); }

// The one series an archive folder holds.
Series OnlySeries(const ArchiveIndex& index) {
  EXPECT_EQ(index.studies.size(), 1u);
  EXPECT_EQ(index.studies.at(0).series.size(), 1u);
  return index.studies.at(0).series.at(0);
}

TEST(DcmQaTs, EveryTransferSyntaxDecodesToTheReferencePixels) {
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/dcm_qa_ts");
  const fs::path base = SharedData() / "dicom/dcm_qa_ts";
  for (int n = 1; n <= 9; ++n) {
    SCOPED_TRACE("file " + std::to_string(n));
    const auto index = Index(base / "In" / (std::to_string(n) + ".dcm"));
    const Series& series = OnlySeries(index);
    EXPECT_EQ(series.slices.size(), 35u) << "Siemens mosaic of 35 tiles";
    const Volume volume = LoadSeries(series);
    testing::ExpectSameVoxels(volume.Grid(), *ReadNifti(base / "Ref" / (std::to_string(n) + ".nii")), 0.0);
  }
}

class Dicom2NiftiGroundTruth : public ::testing::TestWithParam<std::string> {};

TEST_P(Dicom2NiftiGroundTruth, VoxelsAndAffineMatch) {
  const fs::path base = "dicom/dicom2nifti/tests/data";
  MEDPIPE_REQUIRE_SHARED_DATA(base);
  const fs::path folder = SharedData() / base / GetParam();
  const Volume volume = LoadSeries(OnlySeries(Index(folder)));
  const fs::path truth = folder.string() + "_ground_truth.nii.gz";
  // Float ground truth (rescaled MR) was written in single precision.
  testing::ExpectSameVoxels(volume.Grid(), *ReadNifti(truth), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Generic, Dicom2NiftiGroundTruth,
                         ::testing::Values("generic/anatomical/001", "generic/anatomical/001_implicit",
                                           "generic/anatomical/002_non_isotropic", "generic/compressed/001",
                                           "generic/compressed_rle/001", "generic/compressed_jpegls/001",
                                           "generic/compressed_j2k/001", "generic/compressed_jpeg/001",
                                           "ge/anatomical/001", "ge/anatomical/001_implicit",
                                           "ge/anatomical/001_single_slice", "failing/slicecount/001"));

TEST(Dicom2Nifti, RgbSeriesMatchesGroundTruthChannels) {
  const fs::path folder = SharedData() / "dicom/dicom2nifti/tests/data/generic/rgb/001";
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/dicom2nifti/tests/data/generic/rgb");
  const Volume volume = LoadSeries(OnlySeries(Index(folder)));
  ASSERT_TRUE(volume.IsColor());
  using Rgba = itk::Image<itk::RGBAPixel<unsigned char>, 3>;
  auto reader = itk::ImageFileReader<Rgba>::New();
  reader->SetFileName(folder.string() + "_ground_truth.nii.gz");
  reader->Update();
  for (unsigned c = 0; c < 3; ++c) {
    auto channel = Image3D::New();
    channel->CopyInformation(reader->GetOutput());
    channel->SetRegions(reader->GetOutput()->GetLargestPossibleRegion());
    channel->Allocate();
    const auto* rgba = reader->GetOutput()->GetBufferPointer();
    for (size_t i = 0; i < channel->GetPixelContainer()->Size(); ++i) channel->GetBufferPointer()[i] = rgba[i][c];
    testing::ExpectSameVoxels(*volume.channels[c], *channel, 0.0);
  }
}

// Documented outcomes of dicom2nifti's failing/ cases (README, "Ingest outcomes").
TEST(Dicom2Nifti, FailingCasesEndWithTheirDocumentedOutcome) {
  const fs::path base = SharedData() / "dicom/dicom2nifti/tests/data/failing";
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/dicom2nifti/tests/data/failing");
  const auto first_problem = [](const Series& series) { return series.problems.empty() ? "" : series.problems[0]; };

  const Series& not_volume = OnlySeries(Index(base / "notavolume/001"));
  EXPECT_TRUE(not_volume.Refused());
  EXPECT_EQ(first_problem(not_volume).rfind("not_a_volume", 0), 0u);
  EXPECT_THROW(LoadSeries(not_volume), DicomError);

  const Series& gap = OnlySeries(Index(base / "sliceincrement/001"));
  EXPECT_TRUE(gap.Refused());
  EXPECT_EQ(first_problem(gap).rfind("missing_slices", 0), 0u);
  EXPECT_EQ(gap.stack.missing_slices, 1);

  const Series& tilted_gap = OnlySeries(Index(base / "sliceincrement/002"));
  EXPECT_TRUE(tilted_gap.Refused());
  EXPECT_EQ(tilted_gap.stack.missing_slices, 1);

  const auto orientations = Index(base / "sliceorientation/001");
  ASSERT_EQ(orientations.studies.size(), 1u);
  ASSERT_EQ(orientations.studies[0].series.size(), 2u) << "mixed orientations split into two series";
  for (const auto& series : orientations.studies[0].series) {
    EXPECT_EQ(series.slices.size(), 2u);
    EXPECT_NO_THROW(LoadSeries(series));
  }

  const Series& tilted = OnlySeries(Index(base / "gantrytilting/001"));
  EXPECT_FALSE(tilted.Refused());
  EXPECT_NEAR(tilted.stack.tilt_deg, 14.0, 0.05);
  const Volume corrected = LoadSeries(tilted);
  const auto& direction = corrected.Grid().GetDirection();
  EXPECT_NEAR(direction[0][2] * direction[0][1] + direction[1][2] * direction[1][1] + direction[2][2] * direction[2][1],
              0.0, 1e-9)
      << "corrected grid is orthogonal";

  IndexOptions refuse;
  refuse.refuse_gantry_tilt = true;
  const auto refused_index = BuildIndex(ScanArchive(base / "gantrytilting/001"), refuse);
  EXPECT_TRUE(OnlySeries(refused_index).Refused());
}

TEST(DcmQaCt, GantryTiltAndUnevenSpacingMatchDcm2niixTiltEq) {
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/dcm_qa_ct/In/GE");
  const fs::path input = SharedData() / "dicom/dcm_qa_ct/In/GE";
  const fs::path out = fs::temp_directory_path() / "medpipe_dcm2niix_ge";
  fs::remove_all(out);
  fs::create_directories(out);
  const std::string command = "dcm2niix -b n -z n -f ge -o '" + out.string() + "' '" + input.string() + "' > /dev/null";
  if (std::system(command.c_str()) != 0 || !fs::exists(out / "ge_Tilt_Eq_1.nii")) GTEST_SKIP() << "dcm2niix unavailable";

  const Series& series = OnlySeries(Index(input));
  EXPECT_NEAR(series.stack.tilt_deg, 18.5, 0.05);
  EXPECT_TRUE(series.stack.uneven);
  const Volume volume = LoadSeries(series);
  const auto reference = ReadNifti(out / "ge_Tilt_Eq_1.nii");
  const auto size = volume.Grid().GetLargestPossibleRegion().GetSize();
  const auto ref_size = reference->GetLargestPossibleRegion().GetSize();
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(size[k], ref_size[k]) << "axis " << k;
    EXPECT_NEAR(volume.Grid().GetSpacing()[k], reference->GetSpacing()[k], 1e-3) << "axis " << k;
  }
  // dcm2niix only rescales the slice column of its tilted affine, so compare content in index
  // space (its rows run the other way) rather than trusting that affine.
  double sum_ab = 0, sum_a = 0, sum_b = 0, sum_aa = 0, sum_bb = 0;
  const size_t n = size[0] * size[1] * size[2];
  for (size_t z = 0; z < size[2]; ++z)
    for (size_t y = 0; y < size[1]; ++y)
      for (size_t x = 0; x < size[0]; ++x) {
        const double a = volume.Grid().GetPixel({{long(x), long(y), long(z)}});
        const double b = reference->GetPixel({{long(x), long(size[1] - 1 - y), long(z)}});
        sum_a += a, sum_b += b, sum_ab += a * b, sum_aa += a * a, sum_bb += b * b;
      }
  const double correlation = (n * sum_ab - sum_a * sum_b) /
                             std::sqrt((n * sum_aa - sum_a * sum_a) * (n * sum_bb - sum_b * sum_b));
  EXPECT_GT(correlation, 0.99);
  fs::remove_all(out);
}

// The GE head CT is tilted 18.5 degrees and unevenly spaced: refused for its tilt, it says so.
TEST(DcmQaCt, ARefusedTiltIsTheReasonAlthoughTheSpacingIsUneven) {
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/dcm_qa_ct/In/GE");
  IndexOptions refuse;
  refuse.refuse_gantry_tilt = true;
  const Series series = OnlySeries(BuildIndex(ScanArchive(SharedData() / "dicom/dcm_qa_ct/In/GE"), refuse));
  ASSERT_TRUE(series.stack.uneven);
  EXPECT_EQ(series.refusal.rfind("gantry_tilt: slices are tilted 18.5", 0), 0u) << series.refusal;
}

TEST(TotalSegmentator, Jpeg2000CtLandsOnTheSegmentationGrid) {
  MEDPIPE_REQUIRE_SHARED_DATA("dicom/totalseg/tests/reference_files");
  const fs::path base = SharedData() / "dicom/totalseg/tests/reference_files";
  const Series& series = OnlySeries(Index(base / "example_ct_dicom"));
  EXPECT_EQ(series.slices.size(), 20u);
  const Volume volume = LoadSeries(series);
  auto segmentation = ReadNifti(base / "example_seg_dicom.nii.gz");
  // Same grid: every CT voxel centre is a segmentation voxel centre. Values differ (HU vs labels),
  // so compare the grid through a volume of zeros.
  auto zeros = MakeImage(segmentation->GetLargestPossibleRegion().GetSize(), segmentation->GetSpacing(),
                         segmentation->GetOrigin(), segmentation->GetDirection());
  auto ours = MakeImage(volume.Grid().GetLargestPossibleRegion().GetSize(), volume.Grid().GetSpacing(),
                        volume.Grid().GetOrigin(), volume.Grid().GetDirection());
  testing::ExpectSameVoxels(*ours, *zeros, 0.0);
  float min_hu = 1e9, max_hu = -1e9;
  for (size_t i = 0; i < volume.Grid().GetPixelContainer()->Size(); ++i) {
    min_hu = std::min(min_hu, volume.Grid().GetBufferPointer()[i]);
    max_hu = std::max(max_hu, volume.Grid().GetBufferPointer()[i]);
  }
  EXPECT_LE(min_hu, -1000.f) << "air in HU";
  EXPECT_GE(max_hu, 1000.f) << "bone in HU";
}

TEST(Hippocampus, Study1HasFiveSeriesWithTheirSliceCounts) {
  MEDPIPE_REQUIRE_SHARED_DATA("hippocampus/data/TestVolumes/Study1");
  const auto index = Index(SharedData() / "hippocampus/data/TestVolumes/Study1");
  ASSERT_EQ(index.studies.size(), 1u);
  const auto& series = index.studies[0].series;
  ASSERT_EQ(series.size(), 5u);
  std::map<size_t, int> slices;
  for (const auto& s : series) {
    ++slices[s.slices.size()];
    EXPECT_FALSE(s.Refused()) << s.id;
    EXPECT_NO_THROW(LoadSeries(s));
  }
  EXPECT_EQ(slices[22], 4) << "four full-brain series";
  EXPECT_EQ(slices[32], 1) << "the hippocampus crop";
}

const fs::path kNibabelData = "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data";

std::vector<uint8_t> FileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Values as nibabel's csareader reads them from its own test headers.
TEST(CsaHeader, ReadsWhatNibabelReads) {
  if (!fs::exists(kNibabelData / "csa2_b1000.bin")) GTEST_SKIP() << "python3-nibabel's test data missing";
  const auto bytes = FileBytes(kNibabelData / "csa2_b1000.bin");
  const CsaHeader csa = ParseCsaHeader(bytes.data(), bytes.size(), "csa2_b1000.bin");
  EXPECT_EQ(csa.size(), 83u);
  EXPECT_EQ(CsaNumbers(csa, "SliceNormalVector", ""), (std::vector<double>{0.0, 0.00523632, 0.99998629}));
  EXPECT_EQ(CsaNumbers(csa, "NumberOfImagesInMosaic", ""), std::vector<double>{48});
  EXPECT_EQ(CsaNumbers(csa, "B_value", ""), std::vector<double>{1000});
  EXPECT_TRUE(CsaNumbers(csa, "NoSuchElement", "").empty());

  const auto too_many = FileBytes(kNibabelData / "csa_str_1001n_items.bin");
  EXPECT_THROW(ParseCsaHeader(too_many.data(), too_many.size(), "1001 values"), DicomError);
  for (size_t cut : {size_t{12}, size_t{100}, bytes.size() / 2})
    EXPECT_THROW(ParseCsaHeader(bytes.data(), cut, "cut"), DicomError) << cut;
  const uint8_t anonymised[] = {'A', 'n', 'o', 'n'};
  EXPECT_TRUE(ParseCsaHeader(anonymised, sizeof anonymised, "blank").empty());
  // No signature: CSA1 if it parses, else text an anonymiser wrote (not an error).
  const std::string overwritten = "REMOVED BY THE ANONYMISER, NOT A HEADER";
  EXPECT_TRUE(ParseCsaHeader(reinterpret_cast<const uint8_t*>(overwritten.data()), overwritten.size(), "text").empty());
}

// Inputs made from real files by tests/dicom/ingest_cases.py (pydicom), with references from nibabel,
// dcm2niix (dcm_qa_ts/Ref) and dicom2nifti.
class MadeFromRealFiles : public testing::TempDirTest {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import pydicom, nibabel' > /dev/null 2>&1") != 0)
      GTEST_SKIP() << "python3 with pydicom and nibabel missing";
    if (!fs::exists(SharedData() / "dicom")) GTEST_SKIP() << "shared data missing: " << SharedData() / "dicom";
    TempDirTest::SetUp();
  }
  static void Make(const std::string& arguments) {
    const std::string command =
        "/usr/bin/python3 " MEDPIPE_SOURCE_DIR "/tests/dicom/ingest_cases.py " + arguments + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  // FILE, alone in a folder of its own, indexed.
  Series Alone(const fs::path& file) const {
    const fs::path folder = dir_ / ("only_" + file.stem().string());
    fs::create_directories(folder);
    fs::copy_file(file, folder / file.filename());
    return OnlySeries(Index(folder));
  }
};

const fs::path kSiemensMosaic = "dicom/dcm_qa_ts/In/1.dcm";

// The CSA SliceNormalVector negated, as sagittal (and some axial) Siemens mosaics store it: the tiles
// run against row x column. Before, each slice landed mirrored about the first.
TEST_F(MadeFromRealFiles, MosaicStacksAlongTheCsaSliceNormalAsNibabel) {
  const fs::path flipped = dir_ / "flipped.dcm", reference = dir_ / "flipped.nii";
  Make("flip-slice-normal " + (SharedData() / kSiemensMosaic).string() + " " + flipped.string());
  Make("mosaic-reference " + flipped.string() + " " + reference.string());
  const Volume volume = LoadSeries(Alone(flipped));
  testing::ExpectSameVoxels(volume.Grid(), *ReadNifti(reference), 0.0);
}

// A real Siemens diffusion mosaic (896 x 896, 48 tiles) that nibabel ships for its own tests.
TEST_F(MadeFromRealFiles, SiemensDiffusionMosaicMatchesNibabel) {
  if (!fs::exists(kNibabelData / "siemens_dwi_1000.dcm.gz")) GTEST_SKIP() << "python3-nibabel's test data missing";
  const fs::path mosaic = dir_ / "dwi.dcm", reference = dir_ / "dwi.nii";
  ASSERT_EQ(std::system(("gzip -dc '" + (kNibabelData / "siemens_dwi_1000.dcm.gz").string() + "' > '" + mosaic.string() + "'").c_str()), 0);
  Make("mosaic-reference " + mosaic.string() + " " + reference.string());
  const Series series = Alone(mosaic);
  EXPECT_EQ(series.slices.size(), 48u);
  testing::ExpectSameVoxels(LoadSeries(series).Grid(), *ReadNifti(reference), 0.0);
}

// The same scan as a Siemens mosaic whose tile count is only in the CSA header, and relabelled as a
// UIH grid: each lands where dcm2niix put the original.
TEST_F(MadeFromRealFiles, MosaicsTiledOnlyByCsaOrUihGridMatchDcm2niix) {
  for (const std::string variant : {"csa-only-tiles", "uih-grid"}) {
    SCOPED_TRACE(variant);
    const fs::path mosaic = dir_ / (variant + ".dcm");
    Make(variant + " " + (SharedData() / kSiemensMosaic).string() + " " + mosaic.string());
    const Series series = Alone(mosaic);
    EXPECT_EQ(series.slices.size(), 35u);
    testing::ExpectSameVoxels(LoadSeries(series).Grid(), *ReadNifti(SharedData() / "dicom/dcm_qa_ts/Ref/1.nii"), 0.0);
  }
}

TEST_F(MadeFromRealFiles, MosaicWithoutATileCountIsRefusedNotTiled) {
  const fs::path folder = dir_ / "no_count";
  fs::create_directories(folder);
  Make("csa-only-tiles " + (SharedData() / kSiemensMosaic).string() + " " + (folder / "m.dcm").string());
  ASSERT_EQ(std::system(("dcmodify -nb -e '(0029,1010)' '" + (folder / "m.dcm").string() + "' > /dev/null 2>&1").c_str()), 0);
  const ArchiveIndex index = Index(folder);
  EXPECT_TRUE(index.studies.empty());
  ASSERT_EQ(index.problems.size(), 1u);
  EXPECT_NE(index.problems[0].reason.find("ImageType says MOSAIC"), std::string::npos) << index.problems[0].reason;
}

// ImagePositionPatient, ImageOrientationPatient, PixelSpacing and the rescale in VR UN.
TEST_F(MadeFromRealFiles, UnknownVrGeometryIsReadWithTheDictionaryVr) {
  const fs::path source = SharedData() / "dicom/dicom2nifti/tests/data/generic/anatomical/002_non_isotropic";
  Make("unknown-vr " + source.string() + " " + (dir_ / "un").string());
  const Series series = OnlySeries(Index(dir_ / "un"));
  EXPECT_TRUE(series.problems.empty()) << series.problems.front();
  testing::ExpectSameVoxels(LoadSeries(series).Grid(), *ReadNifti(source.string() + "_ground_truth.nii.gz"), 1e-4);
}

// A 32-bit multi-frame RT dose (values 795,000-1,254,000 x DoseGridScaling, frames placed by
// GridFrameOffsetVector) in explicit little and big endian, against pydicom's decoding.
TEST_F(MadeFromRealFiles, BigEndianMultiFrameRtDoseMatchesPydicom) {
  Make("dose " + (SharedData() / "dicom/dicom2nifti/tests/data/generic/anatomical/002_non_isotropic").string() + " " +
       dir_.string());
  const auto reference = ReadNifti(dir_ / "reference.nii");
  for (const char* endian : {"little", "big"}) {
    SCOPED_TRACE(endian);
    const Series series = OnlySeries(Index(dir_ / endian));
    EXPECT_EQ(series.slices.size(), 4u);
    EXPECT_TRUE(series.problems.empty()) << series.problems.front();
    testing::ExpectSameVoxels(LoadSeries(series).Grid(), *reference, 1e-6);
  }
}

// Every number in a text file (.bval, .bvec), row after row.
std::vector<double> NumbersIn(const fs::path& path) {
  std::ifstream in(path);
  std::vector<double> numbers;
  for (double value = 0; in >> value;) numbers.push_back(value);
  return numbers;
}

std::vector<double> NumbersIn(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> numbers;
  for (double value = 0; in >> value;) numbers.push_back(value);
  return numbers;
}

// dicom2nifti's 4-D ground truth (GE fMRI and DTI, 4 slices x 2 volumes): one series, each volume
// voxel for voxel on the reference's grid, b-values and FSL b-vectors equal.
class Dicom2Nifti4D : public ::testing::TestWithParam<std::string> {};

TEST_P(Dicom2Nifti4D, VolumesAndDiffusionTableMatch) {
  const fs::path base = "dicom/dicom2nifti/tests/data";
  MEDPIPE_REQUIRE_SHARED_DATA(base);
  const fs::path folder = SharedData() / base / GetParam();
  const Series series = OnlySeries(Index(folder));
  ASSERT_FALSE(series.Refused()) << series.refusal;
  ASSERT_EQ(series.VolumeCount(), 2u);
  EXPECT_EQ(series.slices.size(), 4u);
  EXPECT_TRUE(std::any_of(series.problems.begin(), series.problems.end(),
                          [](const std::string& p) { return p.rfind("four_d_series:", 0) == 0; }));
  const auto truth = ReadNiftiVolumes(folder.string() + "_ground_truth.nii.gz");
  ASSERT_EQ(truth.size(), 2u);
  const auto volumes = LoadSeriesVolumes(series);
  for (size_t v = 0; v < 2; ++v) {
    SCOPED_TRACE("volume " + std::to_string(v));
    testing::ExpectSameVoxels(volumes[v].Grid(), *truth[v], 1e-4);
  }
  const fs::path bval = folder.string() + "_ground_truth.bval";
  const auto table = DiffusionTable(series, volumes[0].Grid().GetDirection());
  if (GetParam().find("dti") == std::string::npos) {
    EXPECT_FALSE(table) << "fMRI (b-value 0 throughout) has no diffusion table";
    return;
  }
  ASSERT_TRUE(table);
  EXPECT_EQ(NumbersIn(table->bval), NumbersIn(bval));
  const auto expected = NumbersIn(fs::path(folder.string() + "_ground_truth.bvec"));
  const auto bvec = NumbersIn(table->bvec);
  ASSERT_EQ(bvec.size(), expected.size());
  for (size_t i = 0; i < bvec.size(); ++i) EXPECT_NEAR(bvec[i], expected[i], 1e-6) << "bvec value " << i;
}

INSTANTIATE_TEST_SUITE_P(Ge, Dicom2Nifti4D,
                         ::testing::Values("ge/dti/001", "ge/dti/001_implicit", "ge/fmri/001", "ge/fmri/001_implicit"));

}  // namespace
}  // namespace medpipe::dicom
