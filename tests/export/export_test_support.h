#pragma once
// Pieces the export test suites (SEG, SR and RTSTRUCT) share: labels, loading the only series under a
// folder, empty and boxed masks and voxel counts, DICOM series written slice by slice on any
// orientation, and dciodvfy.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/model/manifest.h"
#include "test_support.h"

namespace medpipe::exporter::export_testing {

using Index = LabelImage::IndexType;

inline model::Label MakeLabel(int value, const std::string& name, std::array<int, 3> colour, model::Code category = {},
                              model::Code type = {}) {
  model::Label label;
  label.value = value;
  label.name = name;
  label.colour = colour;
  label.category = std::move(category);
  label.type = std::move(type);
  return label;
}

// A coded label, one left to the SCT defaults, and one that never appears in the mask.
inline std::vector<model::Label> ThreeLabels() {
  return {MakeLabel(1, "lesion", {255, 0, 0}, {"49755003", "SCT", "Morphologically Altered Structure"},
                    {"52988006", "SCT", "Lesion"}),
          MakeLabel(2, "box", {0, 200, 0}), MakeLabel(3, "absent", {0, 0, 255})};
}

// The only series under a folder and its volume's grid.
struct LoadedSeries {
  dicom::Series series;
  Image3D::Pointer grid;
};

// Index, load and return the only series under FOLDER with its volume's grid.
inline LoadedSeries LoadOnlySeries(const std::filesystem::path& folder) {
  const auto index = dicom::BuildIndex(dicom::ScanArchive(folder));
  EXPECT_EQ(index.studies.size(), 1u);
  EXPECT_EQ(index.studies.at(0).series.size(), 1u);
  const dicom::Series& series = index.studies.at(0).series.at(0);
  EXPECT_TRUE(series.problems.empty()) << series.problems.front();
  return {series, dicom::LoadSeries(series).channels.front()};
}

// SERIES with its first header re-encoded, as a decoding process hands it to the writers.
inline dicom::SourceSeries SourceOf(const dicom::Series& series) { return {&series, dicom::ReencodeSourceHeader(series)}; }

// An empty mask on GRID's voxels: its region, spacing, origin and direction.
inline LabelImage::Pointer EmptyMask(const itk::ImageBase<3>& grid) {
  auto mask = LabelImage::New();
  mask->CopyInformation(&grid);
  mask->SetRegions(grid.GetLargestPossibleRegion());
  mask->Allocate(true);
  return mask;
}

// Sets VALUE on every voxel from LOW to HIGH, both included.
inline void FillBox(LabelImage& mask, Index low, Index high, uint8_t value) {
  for (auto z = low[2]; z <= high[2]; ++z)
    for (auto y = low[1]; y <= high[1]; ++y)
      for (auto x = low[0]; x <= high[0]; ++x) mask.SetPixel({{x, y, z}}, value);
}

inline size_t DifferentVoxels(const LabelImage& a, const LabelImage& b) {
  EXPECT_EQ(a.GetLargestPossibleRegion(), b.GetLargestPossibleRegion());
  size_t different = 0;
  for (size_t i = 0; i < a.GetPixelContainer()->Size(); ++i) different += a.GetBufferPointer()[i] != b.GetBufferPointer()[i];
  return different;
}

inline size_t CountValue(const LabelImage& mask, uint8_t value) {
  size_t count = 0;
  for (size_t i = 0; i < mask.GetPixelContainer()->Size(); ++i) count += mask.GetBufferPointer()[i] == value;
  return count;
}

inline std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

// The text a command prints on stdout and stderr; every line is shown with PREFIX.
inline std::string RunCommand(const std::string& command, const std::string& prefix) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  EXPECT_NE(pipe, nullptr) << "cannot run " << command;
  std::string output;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe)) {
    std::printf("%s: %s", prefix.c_str(), buffer);
    output += buffer;
  }
  if (pipe) pclose(pipe);
  return output;
}

// dciodvfy reports no line starting with "Error" for PATH; every line it prints is shown.
inline void ExpectDciodvfyFindsNoErrors(const std::filesystem::path& path) {
  std::istringstream lines(RunCommand("/usr/bin/dciodvfy '" + path.string() + "'", "dciodvfy"));
  std::string line, errors;
  while (std::getline(lines, line)) {
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
  }
  EXPECT_EQ(errors, "");
}

// V rotated ABOUT_Z_DEG degrees about z, then ABOUT_X_DEG about x.
inline dicom::Vec3 Rotated(const dicom::Vec3& v, double about_z_deg, double about_x_deg) {
  const double z = about_z_deg * M_PI / 180, x = about_x_deg * M_PI / 180;
  const dicom::Vec3 r{std::cos(z) * v[0] - std::sin(z) * v[1], std::sin(z) * v[0] + std::cos(z) * v[1], v[2]};
  return {r[0], std::cos(x) * r[1] - std::sin(x) * r[2], std::sin(x) * r[1] + std::cos(x) * r[2]};
}

// VALUES as a multi-valued decimal string of 10 significant digits.
inline std::string Decimals(const std::vector<double>& values) {
  std::ostringstream text;
  text.precision(10);
  for (size_t i = 0; i < values.size(); ++i) text << (i ? "\\" : "") << values[i];
  return text.str();
}

// A CT series written slice by slice: ROWS x COLUMNS pixels in ROW and COLUMN directions, SLICES
// slices stepped along their normal (against it, and so instance numbers counting the other way, when
// FEET_FIRST), pixel I of slice K holding PIXEL(I, K).
struct SeriesSpec {
  std::string patient_name, patient_id;
  dicom::Vec3 row, column;
  bool feet_first;
  Uint16 rows, columns;
  int slices;
  double row_spacing, column_spacing, slice_spacing;
  Uint16 (*pixel)(size_t i, int k);
  std::vector<std::pair<DcmTagKey, std::string>> more_attributes = {};  // put in every file as well
};

inline void WriteSeries(const std::filesystem::path& folder, const SeriesSpec& spec) {
  std::filesystem::create_directories(folder);
  char study[100], series[100], frame_of_reference[100];
  dcmGenerateUniqueIdentifier(study);
  dcmGenerateUniqueIdentifier(series);
  dcmGenerateUniqueIdentifier(frame_of_reference);
  const dicom::Vec3 normal = dicom::Cross(spec.row, spec.column);
  const dicom::Vec3 origin{-40.5, 25.25, 110.0};
  for (int k = 0; k < spec.slices; ++k) {
    const double along = (spec.feet_first ? -k : k) * spec.slice_spacing;
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    testing::PutIdentity(ds, UID_CTImageStorage, study, "CT");
    ds.putAndInsertString(DCM_SeriesInstanceUID, series);
    ds.putAndInsertString(DCM_FrameOfReferenceUID, frame_of_reference);
    ds.putAndInsertString(DCM_PatientName, spec.patient_name.c_str());
    ds.putAndInsertString(DCM_PatientID, spec.patient_id.c_str());
    for (const auto& [tag, value] : spec.more_attributes) ds.putAndInsertString(tag, value.c_str());
    ds.putAndInsertString(DCM_InstanceNumber, std::to_string(k + 1).c_str());
    ds.putAndInsertString(DCM_ImagePositionPatient,
                          Decimals({origin[0] + along * normal[0], origin[1] + along * normal[1],
                                    origin[2] + along * normal[2]}).c_str());
    ds.putAndInsertString(DCM_ImageOrientationPatient,
                          Decimals({spec.row[0], spec.row[1], spec.row[2], spec.column[0], spec.column[1],
                                    spec.column[2]}).c_str());
    ds.putAndInsertString(DCM_PixelSpacing, Decimals({spec.row_spacing, spec.column_spacing}).c_str());
    ds.putAndInsertString(DCM_SliceThickness, Decimals({spec.slice_spacing}).c_str());
    testing::PutPixelModule(ds, spec.rows, spec.columns, 1, 16, 16, "MONOCHROME2");
    std::vector<Uint16> pixels(size_t{spec.rows} * spec.columns);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = spec.pixel(i, k);
    ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
    ASSERT_TRUE(file.saveFile((folder / ("slice_" + std::to_string(k + 1) + ".dcm")).c_str(), EXS_LittleEndianExplicit).good());
  }
}

}  // namespace medpipe::exporter::export_testing

// ---- masks on loaded series (SR and RTSTRUCT suites) ----

namespace medpipe::exporter::export_testing {

// A loaded series with an empty mask on its volume's grid.
struct MaskedSeries {
  dicom::Series series;
  LabelImage::Pointer mask;
};

inline MaskedSeries LoadOnlySeriesWithEmptyMask(const std::filesystem::path& folder) {
  const LoadedSeries loaded = LoadOnlySeries(folder);
  return {loaded.series, EmptyMask(*loaded.grid)};
}

// A sphere of RADIUS_MM around voxel CENTRE (label 1) and the box LOW..HIGH (label 2).
inline void DrawSphereAndBox(LabelImage& mask, Index centre, double radius_mm, Index low, Index high) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  const auto& spacing = mask.GetSpacing();
  for (Index::IndexValueType z = 0; z < Index::IndexValueType(size[2]); ++z)
    for (Index::IndexValueType y = 0; y < Index::IndexValueType(size[1]); ++y)
      for (Index::IndexValueType x = 0; x < Index::IndexValueType(size[0]); ++x) {
        const double dx = (x - centre[0]) * spacing[0], dy = (y - centre[1]) * spacing[1], dz = (z - centre[2]) * spacing[2];
        if (dx * dx + dy * dy + dz * dz <= radius_mm * radius_mm) mask.SetPixel({{x, y, z}}, 1);
      }
  FillBox(mask, low, high, 2);
}

// The synthetic CT (48 x 40 x 12, 1 x 1 x 2 mm) with a sphere and a box.
inline MaskedSeries SyntheticCtWithMask(const std::filesystem::path& dir) {
  MaskedSeries ct = LoadOnlySeriesWithEmptyMask(synth::WriteSyntheticCt(dir, synth::VolumeSpec{48, 40, 12}, 11));
  DrawSphereAndBox(*ct.mask, {{30, 14, 5}}, 5.0, {{5, 22, 2}}, {{12, 33, 8}});
  return ct;
}

// A CT series of 24 x 20 pixels (0.8 mm columns, 0.6 mm rows) and 12 slices 1.5 mm apart, rotated 25
// degrees about z and 15 about x, positions stepping against the normal (feet first), instance numbers
// counting the other way.
inline void WriteObliqueFeetFirstSeries(const std::filesystem::path& folder) {
  WriteSeries(folder, {"Oblique^Test", "oblique-feet-first", Rotated({1, 0, 0}, 25, 15), Rotated({0, 1, 0}, 25, 15), true,
                       20, 24, 12, 0.6, 0.8, 1.5, [](size_t, int k) { return static_cast<Uint16>(100 + k); },
                       {{DCM_PatientBirthDate, ""},
                        {DCM_PatientSex, "O"},
                        {DCM_StudyDate, "20240102"},
                        {DCM_StudyTime, "101500"},
                        {DCM_StudyID, "1"},
                        {DCM_ReferringPhysicianName, ""},
                        {DCM_AccessionNumber, ""}}});
}

// The synthetic CT (48 x 40 x 12) with, on slices 3 to 6, a frame whose hole holds an island (label 1),
// a one-voxel diagonal line and a single voxel (label 2).
inline MaskedSeries SyntheticCtWithFrameAndThinParts(const std::filesystem::path& dir) {
  MaskedSeries ct = LoadOnlySeriesWithEmptyMask(synth::WriteSyntheticCt(dir, synth::VolumeSpec{48, 40, 12}, 12));
  LabelImage& mask = *ct.mask;
  for (Index::IndexValueType z = 3; z <= 6; ++z) {
    for (Index::IndexValueType y = 5; y <= 25; ++y)
      for (Index::IndexValueType x = 5; x <= 25; ++x) {
        const bool hole = x >= 9 && x <= 21 && y >= 9 && y <= 21;
        const bool island = x >= 13 && x <= 17 && y >= 13 && y <= 17;
        if (!hole || island) mask.SetPixel({{x, y, z}}, 1);
      }
    for (Index::IndexValueType i = 0; i < 10; ++i) mask.SetPixel({{30 + i, 5 + i, z}}, 2);
    mask.SetPixel({{44, 35, z}}, 2);
  }
  return ct;
}

inline std::vector<model::Label> FrameAndThinLabels() {
  return {MakeLabel(1, "frame", {200, 100, 0}), MakeLabel(2, "thin", {0, 100, 200})};
}

}  // namespace medpipe::exporter::export_testing
