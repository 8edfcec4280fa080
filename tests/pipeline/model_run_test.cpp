// `medpipe run` with a segmentation and a classification model, on DICOM and on NIfTI input: masks
// land voxel for voxel on the source grid, volumes match the phantom, bad models stop the run early.
#include <gtest/gtest.h>
#include <itkImageRegionConstIteratorWithIndex.h>

#include <cstdlib>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>
#include <set>

#include "cli_support.h"
#include "export/export_test_support.h"
#include "inference/test_models.h"
#include "medpipe/core/digest.h"
#include "medpipe/dicom/archive_scanner.h"
#include "medpipe/dicom/series_index.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/export/deidentify.h"
#include "medpipe/export/dicom_seg.h"
#include "medpipe/synth/synthetic_study.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;

constexpr double kLesionHuLow = 70, kLesionHuHigh = 300;

using testing::Medpipe;
using testing::ReadJson;
using testing::Shell;

// The loaded series of the archive whose modality is MODALITY.
Volume LoadByModality(const fs::path& archive, const std::string& modality) {
  const auto index = dicom::BuildIndex(dicom::ScanArchive(archive));
  for (const auto& study : index.studies)
    for (const auto& series : study.series)
      if (series.files.front().modality == modality) return dicom::LoadSeries(series);
  throw std::runtime_error("no " + modality + " series");
}

// The analysis of MODEL in the result of the study whose series has MODALITY (or is NIfTI).
nlohmann::json Analysis(const fs::path& out, const std::string& modality, const std::string& model, fs::path* folder = nullptr) {
  for (const auto& entry : fs::directory_iterator(out / "studies")) {
    const auto result = ReadJson(entry.path() / "result.json");
    for (const auto& series : result["series"]) {
      const bool match = modality == "nifti" ? series.value("kind", "") == "nifti" : series.value("modality", "") == modality;
      if (!match) continue;
      for (const auto& analysis : series["analyses"])
        if (analysis["model"] == model) {
          if (folder) *folder = entry.path();
          return analysis;
        }
    }
  }
  return {};
}

class ModelRun : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    synth::WriteDemoStudies(dir_ / "archive");
    auto lesion = testing::SegmentationManifest("lesion", 2, 16);
    lesion["output"]["labels"][0]["name"] = "lesion";
    lesion["output"]["postprocessing"] = {{"largest_component", true}, {"fill_holes", true}, {"min_component_mm3", 10}};
    testing::WritePackage(dir_ / "models" / "lesion", testing::LesionBandModel(), lesion);
    // The same model behind a resampling to 1.5 mm in RAS axes, so masks must be mapped back.
    lesion["name"] = "lesion-resampled";
    lesion["input"]["orientation"] = "RAS";
    lesion["input"]["spacing_mm"] = {1.5, 1.5, 1.5};
    testing::WritePackage(dir_ / "models" / "lesion-resampled", testing::LesionBandModel(), lesion);
    testing::WritePackage(dir_ / "models" / "classifier", testing::MeanIntensityClassifier(),
                          testing::ClassifierManifest("classifier", 64));
  }

  std::string ModelArgs() const {
    return " --model " + (dir_ / "models" / "lesion").string() + " --model " + (dir_ / "models" / "lesion-resampled").string() +
           " --model " + (dir_ / "models" / "classifier").string() + " --device " + testing::TestDevice() +
           " --output-types nifti,seg,sr,rtstruct";
  }
};

TEST_F(ModelRun, SegmentsAndClassifiesDicomStudies) {
  const auto run = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + ModelArgs(), dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;

  const auto ct = LoadByModality(dir_ / "archive", "CT");
  const Image3D& source = ct.Grid();
  const auto spacing = source.GetSpacing();
  const double voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0;
  size_t band_voxels = 0;
  const float* hu = source.GetBufferPointer();
  const size_t count = source.GetLargestPossibleRegion().GetNumberOfPixels();
  for (size_t i = 0; i < count; ++i) band_voxels += hu[i] > kLesionHuLow && hu[i] < kLesionHuHigh;

  fs::path folder;
  const auto lesion = Analysis(dir_ / "out", "CT", "lesion", &folder);
  ASSERT_TRUE(lesion.contains("labels")) << lesion.dump(2);
  EXPECT_EQ(lesion["device"], testing::TestDevice() == "cpu" ? "cpu" : "cuda:0");
  EXPECT_EQ(lesion["labels"][0]["name"], "lesion");
  EXPECT_EQ(lesion["labels"][0]["components"], 1);
  // How a reviewer knows the study, from its header; an empty accession number is left out.
  const auto result = ReadJson(folder / "result.json");
  EXPECT_EQ(result.value("study_description", ""), "Synthetic CT");
  EXPECT_EQ(result.value("study_date", "").size(), 8u) << result.dump();
  EXPECT_FALSE(result.contains("accession_number"));
  // Native grid: the mask is exactly the voxels the model's band selects, voxel for voxel.
  const auto mask = ReadNifti(folder / lesion["outputs"]["nifti"].get<std::string>());
  ASSERT_EQ(mask->GetLargestPossibleRegion().GetSize(), source.GetLargestPossibleRegion().GetSize());
  EXPECT_TRUE(mask->GetOrigin().GetVnlVector().is_equal(source.GetOrigin().GetVnlVector(), 1e-4));
  EXPECT_TRUE(mask->GetSpacing().GetVnlVector().is_equal(spacing.GetVnlVector(), 1e-5));
  size_t disagreements = 0;
  for (size_t i = 0; i < count; ++i)
    disagreements += (mask->GetBufferPointer()[i] == 1) != (hu[i] > kLesionHuLow && hu[i] < kLesionHuHigh);
  EXPECT_EQ(disagreements, 0u);
  EXPECT_EQ(lesion["labels"][0]["voxels"], band_voxels);
  // The DICOM SEG, read back with DCMTK, holds the same voxels as the NIfTI mask, and dciodvfy accepts it.
  const fs::path seg = folder / lesion["outputs"]["seg"].get<std::string>();
  const auto labels = model::LoadManifest(dir_ / "models" / "lesion").labels;
  const auto nifti_mask = ReadLabelNifti(folder / lesion["outputs"]["nifti"].get<std::string>());
  const auto seg_mask = exporter::ReadDicomSeg(seg, *nifti_mask, labels);
  EXPECT_TRUE(std::equal(seg_mask->GetBufferPointer(), seg_mask->GetBufferPointer() + count, nifti_mask->GetBufferPointer()));
  // dciodvfy accepts the SEG, the RTSTRUCT and the study's TID 1500 SR.
  const auto rtstruct = folder / lesion["outputs"]["rtstruct"].get<std::string>();
  const auto sr = folder / ReadJson(folder / "result.json")["outputs"]["sr"].get<std::string>();
  for (const auto& object : {seg, rtstruct, sr}) {
    const auto validation = Shell("dciodvfy " + object.string(), dir_ / "dciodvfy.log");
    EXPECT_EQ(validation.output.find("\nError"), std::string::npos) << object << validation.output;
    EXPECT_NE(validation.output.rfind("Error", 0), 0u) << object << validation.output;
  }
  const auto report = Shell("dsrdump " + sr.string(), dir_ / "dsrdump.log");
  EXPECT_NE(report.output.find("lesion"), std::string::npos) << report.output;
  // And the phantom's sphere (radius 8 mm) is what was found.
  const double sphere_ml = 4.0 / 3.0 * M_PI * 8 * 8 * 8 / 1000.0;
  EXPECT_NEAR(lesion["labels"][0]["volume_ml"].get<double>(), band_voxels * voxel_ml, 1e-9);
  EXPECT_NEAR(lesion["labels"][0]["volume_ml"].get<double>(), sphere_ml, 0.1 * sphere_ml);
  // Its features against the same voxels summed here: centroid in patient coordinates and mean HU.
  double centre[3] = {0, 0, 0}, hu_sum = 0;
  for (itk::ImageRegionConstIteratorWithIndex<Image3D> it(&source, source.GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    if (!(it.Get() > kLesionHuLow && it.Get() < kLesionHuHigh)) continue;
    Image3D::PointType point;
    source.TransformIndexToPhysicalPoint(it.GetIndex(), point);
    for (unsigned k = 0; k < 3; ++k) centre[k] += point[k] / band_voxels;
    hu_sum += it.Get();
  }
  const auto& features = lesion["labels"][0];
  for (unsigned k = 0; k < 3; ++k) EXPECT_NEAR(features["centroid_mm"][k].get<double>(), centre[k], 1e-3) << k;
  EXPECT_EQ(features["intensity"]["unit"], "HU");
  EXPECT_NEAR(features["intensity"]["mean"].get<double>(), hu_sum / band_voxels, 1e-3);
  EXPECT_GT(features["intensity"]["min"].get<double>(), kLesionHuLow);
  EXPECT_LT(features["intensity"]["max"].get<double>(), kLesionHuHigh);
  EXPECT_NEAR(features["sphericity"].get<double>(), 1.0, 0.1) << "a ball (the surface estimate can make it a little over 1)";

  // Resampled to 1.5 mm RAS and mapped back: same grid as the source, nearly the same voxels.
  const auto resampled = Analysis(dir_ / "out", "CT", "lesion-resampled", &folder);
  ASSERT_TRUE(resampled.contains("labels")) << resampled.dump(2);
  const auto resampled_mask = ReadNifti(folder / resampled["outputs"]["nifti"].get<std::string>());
  ASSERT_EQ(resampled_mask->GetLargestPossibleRegion().GetSize(), source.GetLargestPossibleRegion().GetSize());
  size_t overlap = 0, resampled_voxels = 0;
  for (size_t i = 0; i < count; ++i) {
    resampled_voxels += resampled_mask->GetBufferPointer()[i] == 1;
    overlap += resampled_mask->GetBufferPointer()[i] == 1 && mask->GetBufferPointer()[i] == 1;
  }
  const double dice = 2.0 * overlap / (resampled_voxels + band_voxels);
  EXPECT_GT(dice, 0.9) << "resampled " << resampled_voxels << " native " << band_voxels;

  // The MR series is not what a CT model reads; the classifier reads the X-ray.
  EXPECT_EQ(Analysis(dir_ / "out", "MR", "lesion")["skipped"], "model reads CT, series is MR");
  const auto xray = Analysis(dir_ / "out", "DX", "classifier");
  ASSERT_TRUE(xray.contains("probabilities")) << xray.dump(2);
  const double normal = xray["probabilities"]["normal"], abnormal = xray["probabilities"]["abnormal"];
  EXPECT_NEAR(normal + abnormal, 1.0, 1e-6);
  // The decision is about the rule's class, whichever class is the most probable.
  EXPECT_EQ(xray["decision"]["class"], "abnormal");
  EXPECT_EQ(xray["decision"]["probability"], abnormal);
  EXPECT_EQ(xray["decision"]["threshold"], 0.5);
  EXPECT_EQ(xray["decision"]["result"], abnormal >= 0.5 ? "positive" : "negative");
  EXPECT_EQ(xray["decision"]["most_probable_class"], normal > abnormal ? "normal" : "abnormal");
  EXPECT_FALSE(xray.contains("predicted")) << "the argmax lives inside the decision, labelled as secondary";
  // Its explanation: the evidence for the positive class, by saliency (the model has no feature methods).
  EXPECT_EQ(xray["explanation"]["method"], "saliency");
  EXPECT_EQ(xray["explanation"]["class"], "abnormal");
  EXPECT_GE(xray["timings_ms"]["explain"].get<double>(), 0);
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    testing::ExpectValidResult(entry.path() / "result.json");
    // Every loaded series has its review picture, and every segmentation its montage.
    const auto result = ReadJson(entry.path() / "result.json");  // kept: the loop must not outlive it
    for (const auto& series : result["series"]) {
      EXPECT_TRUE(fs::is_regular_file(entry.path() / series["overlay"].get<std::string>())) << series.dump();
      for (const auto& analysis : series["analyses"]) {
        for (const char* picture : {"overlay", "heatmap"}) {
          if (analysis.contains("outputs") && analysis["outputs"].contains(picture)) {
            EXPECT_TRUE(fs::is_regular_file(entry.path() / analysis["outputs"][picture].get<std::string>())) << picture;
          }
        }
        if (analysis["task"] == "segmentation" && !analysis.contains("skipped")) {
          EXPECT_TRUE(analysis["outputs"].contains("overlay")) << analysis.dump();
          // The NIfTI mask's values are named beside it, for any tool and for ITK-SNAP/Slicer.
          const auto sidecar = ReadJson(entry.path() / analysis["outputs"]["nifti_labels"].get<std::string>());
          ASSERT_EQ(sidecar["labels"].size(), analysis["labels"].size()) << sidecar.dump();
          const std::string itksnap = ReadFile(entry.path() / analysis["outputs"]["itksnap_labels"].get<std::string>());
          for (size_t i = 0; i < analysis["labels"].size(); ++i) {
            const auto& label = analysis["labels"][i];
            EXPECT_EQ(sidecar["labels"][i]["value"], label["value"]);
            EXPECT_EQ(sidecar["labels"][i]["name"], label["name"]);
            EXPECT_NE(itksnap.find("\"" + label["name"].get<std::string>() + "\""), std::string::npos) << itksnap;
          }
        }
        if (analysis.contains("explanation")) {
          EXPECT_TRUE(analysis["outputs"].contains("heatmap")) << analysis.dump();
        }
      }
    }
  }
  // The batch's review page and table list every study and every analysis.
  EXPECT_TRUE(fs::is_regular_file(dir_ / "out" / "report.html"));
  const std::string csv = ReadFile(dir_ / "out" / "results.csv");
  EXPECT_NE(csv.find("lesion-resampled"), std::string::npos);
  EXPECT_NE(csv.find("classifier"), std::string::npos);
  // Logits (4m - 2, 2 - 4m) of the image's mean m after min-max scaling: check against the source.
  const auto dx = LoadByModality(dir_ / "archive", "DX");
  const float* pixels = dx.Grid().GetBufferPointer();
  const size_t dx_count = dx.Grid().GetLargestPossibleRegion().GetNumberOfPixels();
  const auto [low, high] = std::minmax_element(pixels, pixels + dx_count);
  double mean = 0;
  for (size_t i = 0; i < dx_count; ++i) mean += (pixels[i] - *low) / (*high - *low) / dx_count;
  EXPECT_NEAR(normal, 1.0 / (1.0 + std::exp(-(8 * mean - 4))), 0.02);
}

TEST_F(ModelRun, NiftiInputGetsMasksOnItsOwnGrid) {
  fs::create_directories(dir_ / "nifti");
  const auto ct = LoadByModality(dir_ / "archive", "CT");
  WriteNifti(ct, dir_ / "nifti" / "ct.nii.gz");
  const auto run = Medpipe("run " + (dir_ / "nifti").string() + " " + (dir_ / "out").string() + ModelArgs(), dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  fs::path folder;
  const auto lesion = Analysis(dir_ / "out", "nifti", "lesion", &folder);
  ASSERT_TRUE(lesion.contains("labels")) << lesion.dump(2);
  const auto input = ReadNifti(dir_ / "nifti" / "ct.nii.gz");
  const auto mask = ReadNifti(folder / lesion["outputs"]["nifti"].get<std::string>());
  EXPECT_EQ(mask->GetLargestPossibleRegion().GetSize(), input->GetLargestPossibleRegion().GetSize());
  EXPECT_TRUE(mask->GetDirection().GetVnlMatrix().is_equal(input->GetDirection().GetVnlMatrix(), 1e-6));
  EXPECT_TRUE(mask->GetOrigin().GetVnlVector().is_equal(input->GetOrigin().GetVnlVector(), 1e-4));
  size_t band_voxels = 0;
  const size_t count = input->GetLargestPossibleRegion().GetNumberOfPixels();
  for (size_t i = 0; i < count; ++i) {
    const float hu = input->GetBufferPointer()[i];
    const bool in_band = hu > kLesionHuLow && hu < kLesionHuHigh;
    band_voxels += in_band;
    ASSERT_EQ(mask->GetBufferPointer()[i] == 1, in_band) << "voxel " << i;
  }
  EXPECT_EQ(lesion["labels"][0]["voxels"], band_voxels);
  testing::ExpectValidResult(folder / "result.json");
  // A CT NIfTI has no modality: the 2-D classifier is skipped for being 2-D, not for modality.
  EXPECT_EQ(Analysis(dir_ / "out", "nifti", "classifier")["skipped"], "2-D classifier, series is a volume");
}

// Like TotalSegmentator's anonymised example CT: images without SOP or study UIDs still get masks,
// and no SEG, RTSTRUCT or SR that would reference nothing.
TEST_F(ModelRun, ImagesWithoutUidsGetMasksButNoDicomObjects) {
  fs::create_directories(dir_ / "anonymous");
  fs::copy(dir_ / "archive" / "ct", dir_ / "anonymous" / "ct");
  ASSERT_EQ(std::system(("dcmodify -nb -ea '(0008,0018)' -ea '(0020,000d)' " + (dir_ / "anonymous" / "ct").string() +
                         "/*.dcm > /dev/null 2>&1")
                            .c_str()),
            0);
  const auto run = Medpipe("run " + (dir_ / "anonymous").string() + " " + (dir_ / "out").string() + ModelArgs(), dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  fs::path folder;
  const auto lesion = Analysis(dir_ / "out", "CT", "lesion", &folder);
  ASSERT_TRUE(lesion.contains("labels")) << lesion.dump(2);
  EXPECT_TRUE(lesion["outputs"].contains("nifti"));
  EXPECT_FALSE(lesion["outputs"].contains("seg"));
  EXPECT_FALSE(lesion["outputs"].contains("rtstruct"));
  EXPECT_NE(lesion["outputs"]["dicom_skipped"].get<std::string>().find("(0020,000D) StudyInstanceUID is missing"), std::string::npos);
  EXPECT_FALSE(fs::exists(folder / "sr.dcm"));
  testing::ExpectValidResult(folder / "result.json");
}

TEST_F(ModelRun, ABadModelStopsTheRunBeforeAnyStudy) {
  fs::remove(dir_ / "models" / "lesion" / "model.pt");
  const auto run = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + ModelArgs(), dir_ / "log");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.output.find("model.pt: is missing"), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "problems.json"));
  const auto device = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() +
                                  " --model " + (dir_ / "models" / "classifier").string() + " --device tpu",
                              dir_ / "log");
  EXPECT_EQ(device.exit_code, 2);  // a bad option value is a usage error
  EXPECT_NE(device.output.find("--device: 'tpu' is not one of"), std::string::npos) << device.output;
}

TEST_F(ModelRun, AKilledRunLeavesNoPartialStudy) {
  // Tiny patches with 90 % overlap: hundreds of thousands of forward passes keep the run inside the
  // CT study long enough to kill it there.
  testing::WritePackage(dir_ / "models" / "slow", testing::LesionBandModel(), testing::SegmentationManifest("slow", 2, 8));
  const std::string archive = (dir_ / "archive").string(), out = (dir_ / "out").string();
  const std::string slow = (dir_ / "models" / "slow").string();
  const pid_t child = testing::StartProcess({MEDPIPE_BINARY, "run", archive, out, "--model", slow, "--device", "cpu",
                                             "--overlap", "0.9", "--batch-size", "1"}, "/dev/null");
  const auto staging_present = [&] {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies", ec))
      if (entry.path().filename().string().front() == '.') return true;
    return false;
  };
  bool caught_mid_study = false;
  for (int i = 0; i < 600 && !caught_mid_study; ++i) {
    usleep(50000);
    caught_mid_study = staging_present();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(caught_mid_study) << "the run never started a study";
  // Every visible study folder is complete; the killed study exists only as hidden staging.
  size_t complete = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    if (entry.path().filename().string().front() == '.') continue;
    EXPECT_TRUE(fs::exists(entry.path() / "result.json")) << entry.path();
    ++complete;
  }
  EXPECT_LT(complete, 3u);
  // The next run replaces the staging with complete results.
  const auto rerun = Medpipe("run " + archive + " " + out + ModelArgs(), dir_ / "log");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  size_t studies = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    EXPECT_NE(entry.path().filename().string().front(), '.') << "stale staging " << entry.path();
    EXPECT_TRUE(fs::exists(entry.path() / "result.json")) << entry.path();
    ++studies;
  }
  EXPECT_EQ(studies, 3u);
}

TEST_F(ModelRun, ModelCheckVerifiesAPackage) {
  const auto ok = Medpipe("model check " + (dir_ / "models" / "lesion").string() + " --device cpu", dir_ / "log");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("\"golden\":\"passed\""), std::string::npos) << ok.output;
  std::ofstream(dir_ / "models" / "lesion" / "model.pt", std::ios::app) << "tampered";
  const auto bad = Medpipe("model check " + (dir_ / "models" / "lesion").string() + " --device cpu", dir_ / "log");
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.output.find("sha256"), std::string::npos) << bad.output;
}


// Free-text tags are attacker-controlled: a PatientID that looks like a path, a SeriesDescription
// with a script, a separator and bytes that are not UTF-8, a StudyInstanceUID that is a spreadsheet
// formula. Nothing lands outside OUT, no output name comes from them, the report runs no script
// from them, the CSV holds no formula, JSON stays valid UTF-8, and no patient name or birth date
// reaches the log, JSON, CSV or HTML.
TEST_F(ModelRun, HostileTagsNeverBecomePathsScriptsFormulasOrPhi) {
  const std::string description = "<script>alert(1)</script> a/b\\c \xff\xfe";
  const auto modify = [&](const std::string& folder, const std::string& edits) {
    ASSERT_EQ(std::system(("dcmodify -nb -i '(0010,0010)=Doe^Jane' -i '(0010,0030)=19700101' -m '(0010,0020)=../../etc/passwd' " +
                           edits + " " + (dir_ / "archive" / folder).string() + "/*.dcm > /dev/null 2>&1")
                              .c_str()),
              0);
  };
  modify("ct", "-i '(0008,103e)=" + description + "'");
  modify("mr", "-m '(0020,000d)=@SUM(1+1)'");
  std::map<fs::path, std::string> inputs_before;
  for (const auto& entry : fs::recursive_directory_iterator(dir_))
    if (entry.is_regular_file()) inputs_before[entry.path()] = Sha256File(entry.path());

  const auto run = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + ModelArgs(), dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;

  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& path = entry.path();
    const auto before = inputs_before.find(path);
    if (before != inputs_before.end()) {
      EXPECT_EQ(Sha256File(path), before->second) << path << " was modified";
      continue;
    }
    if (path == dir_ / "log") continue;
    EXPECT_EQ(path.lexically_relative(dir_ / "out").string().rfind("..", 0), std::string::npos) << path << " outside OUT";
    for (const char* word : {"passwd", "script", "Doe", "SUM"})
      EXPECT_EQ(path.filename().string().find(word), std::string::npos) << path;
    const std::string ext = path.extension().string();
    if (ext == ".json" || ext == ".csv" || ext == ".html" || ext == ".jsonl") {
      const std::string text = ReadFile(path);
      for (const char* phi : {"Doe", "Jane", "19700101"}) EXPECT_EQ(text.find(phi), std::string::npos) << phi << " in " << path;
      if (ext == ".json") {
        EXPECT_NO_THROW(nlohmann::json::parse(text)) << path << " is not valid UTF-8 JSON";
      } else if (ext == ".html") {
        EXPECT_EQ(text.find("<script>alert"), std::string::npos) << path;
        EXPECT_NE(text.find("http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"), std::string::npos) << path;
      }
    }
  }
  for (const char* phi : {"Doe", "Jane", "19700101"}) EXPECT_EQ(run.output.find(phi), std::string::npos) << phi << " in the log";

  const auto ct = Analysis(dir_ / "out", "CT", "lesion");
  ASSERT_TRUE(ct.contains("outputs")) << ct.dump(2);
  EXPECT_TRUE(ct["outputs"].contains("seg"));  // the PatientID is odd, but the images are referenceable
  std::string ct_page;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "report")) {
    const std::string page = ReadFile(entry.path());
    if (page.find("&lt;script&gt;alert(1)&lt;/script&gt; a/b") != std::string::npos) ct_page = page;
  }
  EXPECT_NE(ct_page.find("\xEF\xBF\xBD"), std::string::npos) << "the invalid bytes became U+FFFD";

  const std::string csv = ReadFile(dir_ / "out" / "results.csv");
  EXPECT_NE(csv.find(",'@SUM(1+1),"), std::string::npos) << csv;
  for (const char* formula : {",=", ",+", ",@"}) EXPECT_EQ(csv.find(formula), std::string::npos) << formula << "\n" << csv;
}


// --deidentify: SEG, SR, RTSTRUCT and result.json follow PS3.15's basic profile. No patient
// identifier, institution, description, original UID or input path is left in any output; the UIDs
// are replaced consistently, so the SR still references the SEG and the SEG its (renamed) series;
// the objects still pass dciodvfy.
TEST_F(ModelRun, DeidentifyLeavesNoIdentifiersAndKeepsReferencesConsistent) {
  ASSERT_EQ(std::system(("dcmodify -nb -i '(0010,0010)=Doe^Jane' -i '(0010,0030)=19700101' -i '(0010,0020)=MRN-12345' "
                         "-i '(0008,0080)=St Example Hospital' -i '(0008,103e)=Chest Doe' -i '(0008,0050)=ACC-777' " +
                         (dir_ / "archive" / "ct").string() + "/*.dcm > /dev/null 2>&1")
                            .c_str()),
            0);
  DcmFileFormat source;
  ASSERT_TRUE(source.loadFile(fs::directory_iterator(dir_ / "archive" / "ct")->path().c_str()).good());
  OFString study_uid, series_uid;
  source.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study_uid);
  source.getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, series_uid);

  const auto run = Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + ModelArgs() + " --deidentify",
                           dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> identifiers = {"Doe", "Jane", "19700101", "MRN-12345", "St Example", "ACC-777",
                                                study_uid.c_str(), series_uid.c_str(), (dir_ / "archive").string()};
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "out")) {
    // The viewer's library is the same file in every batch (its text has words like "Doe"); compressed
    // voxels (NIfTI, and the review copies carried base64 in report/*.js) hold short words by chance.
    const fs::path& path = entry.path();
    if (!entry.is_regular_file() || path.parent_path() == dir_ / "out" / "viewer" || path.extension() == ".gz" ||
        (path.parent_path() == dir_ / "out" / "report" && path.extension() == ".js"))
      continue;
    const std::string bytes = ReadFile(entry.path());
    for (const auto& identifier : identifiers) EXPECT_EQ(bytes.find(identifier), std::string::npos) << identifier << " in " << entry.path();
    if (entry.path().filename() == "result.json") testing::ExpectValidResult(entry.path());
  }

  fs::path folder;
  const auto lesion = Analysis(dir_ / "out", "CT", "lesion", &folder);
  const auto result = ReadJson(folder / "result.json");
  EXPECT_EQ(result["study_instance_uid"], DeidentifiedUid(study_uid.c_str()));
  EXPECT_FALSE(result["series"][0].contains("paths"));
  for (const char* label : {"study_date", "accession_number", "study_description"}) EXPECT_FALSE(result.contains(label)) << label;
  DcmFileFormat seg, sr;
  ASSERT_TRUE(seg.loadFile((folder / lesion["outputs"]["seg"].get<std::string>()).c_str()).good());
  ASSERT_TRUE(sr.loadFile((folder / "sr.dcm").c_str()).good());
  OFString removed, name, seg_study, seg_uid;
  seg.getDataset()->findAndGetOFString(DCM_PatientIdentityRemoved, removed);
  seg.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, seg_study);
  seg.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, seg_uid);
  EXPECT_EQ(removed, "YES");
  EXPECT_TRUE(seg.getDataset()->findAndGetOFString(DCM_PatientName, name).good() && name.empty()) << "type 2: kept, empty";
  for (DcmDataset* object : {seg.getDataset(), sr.getDataset()}) {  // no date of their own either
    OFString date;
    object->findAndGetOFString(DCM_ContentDate, date);
    EXPECT_EQ(date, "19000101");
    EXPECT_FALSE(object->tagExists(DCM_InstanceCreationDate));
    EXPECT_FALSE(object->tagExists(DCM_SeriesDate));
  }
  EXPECT_EQ(seg_study, DeidentifiedUid(study_uid.c_str()).c_str());
  DcmStack references;
  std::set<std::string> referenced;
  while (sr.getDataset()->search(DCM_ReferencedSOPInstanceUID, references, ESM_afterStackTop, true).good()) {
    OFString uid;
    static_cast<DcmElement*>(references.top())->getOFString(uid, 0);
    referenced.insert(uid.c_str());
  }
  EXPECT_EQ(referenced.count(seg_uid.c_str()), 1U) << "the SR references the de-identified SEG";
  if (fs::exists("/usr/bin/dciodvfy")) {
    exporter::export_testing::ExpectDciodvfyFindsNoErrors(folder / lesion["outputs"]["seg"].get<std::string>());
    exporter::export_testing::ExpectDciodvfyFindsNoErrors(folder / "sr.dcm");
  }
}

// Embeddings: two scans of the same phantom (synthetic CTs with different seeds) give nearly the same
// vector, an MR of the head a distant one. NIfTI input, which any model reads whatever the modality.
TEST_F(ModelRun, FeaturesGiveNearlyTheSameVectorForTwoScansAndSeparateModalities) {
  const std::map<std::string, std::function<fs::path(const fs::path&)>> scans = {
      {"ct-a", [](const fs::path& out) { return synth::WriteSyntheticCt(out, {}, 11); }},
      {"ct-b", [](const fs::path& out) { return synth::WriteSyntheticCt(out, {}, 12); }},
      {"mr", [](const fs::path& out) { return synth::WriteSyntheticMr(out, {}, 11); }}};
  for (const auto& [name, write] : scans) {
    const fs::path folder = write(dir_ / "dicom" / name);
    const auto index = dicom::BuildIndex(dicom::ScanArchive(folder));
    fs::create_directories(dir_ / "nifti" / name);
    WriteNifti(dicom::LoadSeries(index.studies.at(0).series.at(0)), dir_ / "nifti" / name / (name + ".nii.gz"));
  }
  auto manifest = testing::ClassifierManifest("features", 16);
  manifest["input"]["spatial_dims"] = 3;
  manifest["input"]["patch_size"] = {16, 16, 16};
  manifest["input"]["normalisation"] = {{"scheme", "ct"}, {"clip", {-1000, 1000}}, {"mean", 0}, {"std", 500}};
  manifest["golden"]["input_shape"] = {1, 1, 16, 16, 16};
  testing::WritePackage(dir_ / "models" / "features", testing::FeatureClassifier(), manifest);
  const auto run = Medpipe("features " + (dir_ / "nifti").string() + " " + (dir_ / "out").string() + " --model " +
                               (dir_ / "models" / "features").string() + " --device " + testing::TestDevice(),
                           dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // features.csv: a header, then one row per series and model with its vector.
  std::ifstream csv(dir_ / "out" / "features.csv");
  std::string line;
  ASSERT_TRUE(std::getline(csv, line));
  EXPECT_EQ(line, "study_id,study_instance_uid,series_id,series_instance_uid,modality,model,dimension,f0,f1,f2\r");
  std::map<std::string, std::string> scan_of_study;  // a NIfTI file's study id is ShortId of its path
  for (const auto& [name, write] : scans)
    scan_of_study[ShortId(fs::absolute(dir_ / "nifti" / name / (name + ".nii.gz")).lexically_normal().string())] = name;
  std::map<std::string, std::vector<double>> vectors;  // by scan name
  while (std::getline(csv, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line.substr(0, line.size() - 1));
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    ASSERT_EQ(fields.size(), 10u) << line;
    EXPECT_EQ(fields[5], "features");
    EXPECT_EQ(fields[6], "3");
    const std::string scan = scan_of_study[fields[0]];
    for (size_t i = 7; i < fields.size(); ++i) vectors[scan].push_back(std::stod(fields[i]));
  }
  ASSERT_EQ(vectors.size(), 3u);
  const auto distance = [&](const std::string& a, const std::string& b) {
    double sum = 0;
    for (size_t i = 0; i < 3; ++i) sum += std::pow(vectors[a][i] - vectors[b][i], 2);
    return std::sqrt(sum);
  };
  EXPECT_LT(distance("ct-a", "ct-b"), 0.1 * distance("ct-a", "mr")) << distance("ct-a", "ct-b") << " vs " << distance("ct-a", "mr");
  EXPECT_LT(distance("ct-a", "ct-b"), 0.1 * distance("ct-b", "mr"));
  // The vectors are also in each result.json, which stays valid.
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    testing::ExpectValidResult(entry.path() / "result.json");
    const auto result = ReadJson(entry.path() / "result.json");
    EXPECT_EQ(result["series"][0]["analyses"][0]["embedding"].size(), 3u);
  }
}

// Which model reads which series is decided from the headers: the dry run says it before any pixel
// is decoded, and the run then does exactly that, skipping the other models for the same reasons.
TEST_F(ModelRun, ADryRunShowsWhichModelReadsWhichSeriesAsTheRunThenDoes) {
  const std::string args = "run " + (dir_ / "archive").string() + " " + (dir_ / "out").string() + ModelArgs();
  const auto dry = Medpipe(args + " --dry-run", dir_ / "log");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  ASSERT_EQ(Medpipe(args, dir_ / "log").exit_code, 0);
  size_t checked = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    const auto result = ReadJson(entry.path() / "result.json");
    for (const auto& series : result["series"]) {
      const std::string prefix = "  series #" + std::to_string(series["series_number"].get<int>()) + " '" +
                                 series["description"].get<std::string>() + "': read by ";
      const auto at = dry.output.find(prefix);
      ASSERT_NE(at, std::string::npos) << prefix << "\n" << dry.output;
      const std::string line = dry.output.substr(at, dry.output.find('\n', at) - at);
      const std::string readers = line.substr(prefix.size(), line.find(';') - prefix.size());  // "a, b" or "no model"
      for (const auto& analysis : series["analyses"]) {
        const std::string model = analysis["model"];
        if (analysis.contains("skipped")) {
          EXPECT_NE(line.find(model + " skips it (" + analysis["skipped"].get<std::string>() + ")"), std::string::npos)
              << line;
        } else {
          EXPECT_NE((", " + readers + ",").find(", " + model + ","), std::string::npos) << model << " reads it: " << line;
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 6u);
}

// What a dry run with ARGS says of its one study: "run" or "skip" (or all it printed, when neither).
std::string DryRunPlan(const std::string& args, const fs::path& log) {
  const auto dry = Medpipe(args + " --dry-run", log);
  std::istringstream lines(dry.output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("run ", 0) == 0 || line.rfind("skip ", 0) == 0) return line.substr(0, line.find(' '));
  return dry.output;
}

// The settings digest covers every option that changes an output: a rerun that adds features redoes
// the complete study and writes its embedding, and any other such change would redo it too, while
// options that change no output leave it complete.
TEST_F(ModelRun, ARerunThatChangesAnyOutputOptionRedoesCompleteStudies) {
  testing::WritePackage(dir_ / "models" / "left-half", testing::LeftHalfClassifier(), testing::ClassifierManifest("left-half", 32));
  const std::string args = (dir_ / "archive" / "dx").string() + " " + (dir_ / "out").string() + " --model " +
                           (dir_ / "models" / "left-half").string() + " --device " + testing::TestDevice();
  ASSERT_EQ(Medpipe("run " + args, dir_ / "log").exit_code, 0);
  EXPECT_FALSE(Analysis(dir_ / "out", "DX", "left-half").contains("embedding"));
  const std::string with_features = "run " + args + " --output-types nifti,seg,sr,features ";
  const auto rerun = Medpipe(with_features, dir_ / "log");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(Analysis(dir_ / "out", "DX", "left-half")["embedding"].size(), 2u) << "one value per feature map";
  EXPECT_TRUE(fs::exists(dir_ / "out" / "features.csv"));

  EXPECT_EQ(DryRunPlan(with_features, dir_ / "log"), "skip");
  EXPECT_EQ(DryRunPlan(with_features + "--batch-size 1", dir_ / "log"), "skip");
  for (const std::string changed : {"--tta", "--overlap 0.25", "--deidentify", "--refuse-gantry-tilt"})
    EXPECT_EQ(DryRunPlan(with_features + changed, dir_ / "log"), "run") << changed;
  for (const std::string outputs : {"nifti,seg,sr", "nifti,seg,sr,rtstruct,features", "seg,sr,features"})
    EXPECT_EQ(DryRunPlan("run " + args + " --output-types " + outputs, dir_ / "log"), "run") << outputs;
}

// Embeddings asked of a model without forward_features (as models/hippocampus) are refused before any
// study is read, naming the model and what it lacks; beside a model that has it, the run goes on and
// says which model gives none.
TEST_F(ModelRun, FeaturesFromAModelWithoutForwardFeaturesAreRefusedAtStart) {
  const std::string io = (dir_ / "archive" / "dx").string() + " " + (dir_ / "out").string() + " --device " + testing::TestDevice();
  const std::string lesion = " --model " + (dir_ / "models" / "lesion").string();
  const auto refused = Medpipe("features " + io + lesion, dir_ / "log");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("no embedding from 'lesion' (" + (dir_ / "models" / "lesion").string() +
                                "): model.pt has no forward_features(x)"),
            std::string::npos)
      << refused.output;
  EXPECT_TRUE(fs::is_empty(dir_ / "out" / "studies"));

  testing::WritePackage(dir_ / "models" / "left-half", testing::LeftHalfClassifier(), testing::ClassifierManifest("left-half", 32));
  const auto mixed = Medpipe("features " + io + lesion + " --model " + (dir_ / "models" / "left-half").string(), dir_ / "log");
  EXPECT_EQ(mixed.exit_code, 0) << mixed.output;
  EXPECT_NE(mixed.output.find("WARNING --output-types features: no embedding from 'lesion'"), std::string::npos) << mixed.output;
  EXPECT_EQ(Analysis(dir_ / "out", "DX", "left-half")["embedding"].size(), 2u);
}

// An SR that cannot be written (here DCMTK refuses to copy the source's SpecificCharacterSet, which is
// not a valid code string) fails the study with its reason in result.json and results.csv; the
// classification it would have reported stays.
TEST_F(ModelRun, AnSrThatCannotBeWrittenFailsTheStudyWithItsReason) {
  fs::create_directories(dir_ / "latin1");
  fs::copy(dir_ / "archive" / "dx", dir_ / "latin1" / "dx");
  ASSERT_EQ(std::system(("dcmodify -nb -i '(0008,0005)=latin1' " + (dir_ / "latin1" / "dx").string() + "/*.dcm > /dev/null 2>&1")
                            .c_str()),
            0);
  const auto run = Medpipe("run " + (dir_ / "latin1").string() + " " + (dir_ / "out").string() + " --model " +
                               (dir_ / "models" / "classifier").string() + " --device " + testing::TestDevice(),
                           dir_ / "log");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  fs::path folder;
  EXPECT_TRUE(Analysis(dir_ / "out", "DX", "classifier", &folder).contains("decision"));
  const auto result = ReadJson(folder / "result.json");
  EXPECT_EQ(result["status"], "failed");
  EXPECT_FALSE(result.contains("outputs"));
  EXPECT_NE(result.value("sr_error", "").find("SpecificCharacterSet"), std::string::npos) << result.dump(2);
  testing::ExpectValidResult(folder / "result.json");
  const std::string csv = ReadFile(dir_ / "out" / "results.csv");
  EXPECT_NE(csv.find(",,,,,failed,,,,,sr: "), std::string::npos) << csv;
}

}  // namespace
}  // namespace medpipe
