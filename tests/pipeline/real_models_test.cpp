// The shipped models on real data: the hippocampus model on the DICOM study it is meant for (the
// manifest's selector picks the hippocampus crop among five MR series and both volumes are reported),
// and the pneumonia model's backbone fine-tuned on a labelled folder (transfer learning).
// (The held-out accuracy floors of both models run as the eval_*_floor CTest tests.)
#include <gtest/gtest.h>

#include <map>

#include "cli_support.h"
#include "inference/test_models.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;

class RealModels : public testing::TempDirTest {};

TEST_F(RealModels, HippocampusStudySegmentsOnlyTheCropSeries) {
  const fs::path study = fs::path(MEDPIPE_SHARED_DATA) / "hippocampus/data/TestVolumes/Study1";
  if (!fs::exists(study)) GTEST_SKIP() << study << " is absent (see ../shared/data/README.md)";
  const auto run = testing::Medpipe("run " + study.string() + " " + (dir_ / "out").string() +
                                         " --model " MEDPIPE_SOURCE_DIR "/models/hippocampus --device " + testing::TestDevice(),
                                     dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;

  std::vector<fs::path> studies;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) studies.push_back(entry.path());
  ASSERT_EQ(studies.size(), 1u);
  testing::ExpectValidResult(studies[0] / "result.json");
  const auto result = testing::ReadJson(studies[0] / "result.json");
  ASSERT_EQ(result["series"].size(), 5u);
  int segmented = 0;
  for (const auto& series : result["series"]) {
    ASSERT_EQ(series["analyses"].size(), 1u) << series.dump(2);
    const auto& analysis = series["analyses"][0];
    if (series["description"] != "HippoCrop") {
      EXPECT_NE(analysis.value("skipped", "").find("does not match the model's selector"), std::string::npos)
          << analysis.dump(2);
      continue;
    }
    ++segmented;
    ASSERT_TRUE(analysis.contains("labels")) << analysis.dump(2);
    ASSERT_EQ(analysis["labels"].size(), 2u);
    // One hippocampus: head and body/tail, each one piece of a human size (the training labels span 1.0-2.9 mL),
    // with the manifest's normal range (MODEL_CARD.md) beside it.
    const std::map<std::string, std::vector<double>> normal_ranges = {{"anterior", {1.17, 2.36}}, {"posterior", {1.12, 2.0}}};
    for (const auto& label : analysis["labels"]) {
      EXPECT_EQ(label.value("normal_range_ml", std::vector<double>{}), normal_ranges.at(label["name"])) << label.dump();
      EXPECT_EQ(label["components"], 1) << label.dump();
      EXPECT_GT(label["volume_ml"].get<double>(), 0.8) << label.dump();
      EXPECT_LT(label["volume_ml"].get<double>(), 3.5) << label.dump();
    }
    EXPECT_TRUE(fs::exists(studies[0] / analysis["outputs"]["seg"].get<std::string>()));
  }
  EXPECT_EQ(segmented, 1);
  EXPECT_TRUE(fs::exists(studies[0] / result["outputs"]["sr"].get<std::string>()));
}

// The transfer-learning path (README): the shipped pneumonia model's backbone fine-tuned on a labelled
// PNG folder made from the shared data gives a package that medpipe checks and runs as it is, with
// Grad-CAM and embeddings from the backbone it kept.
TEST_F(RealModels, FineTunedPneumoniaBackboneRunsUnchanged) {
  const fs::path npz = fs::path(MEDPIPE_SHARED_DATA) / "xray/pneumoniamnist.npz";
  if (!fs::exists(npz)) GTEST_SKIP() << npz << " is absent (see ../shared/data/README.md)";
  const std::string scripts = MEDPIPE_SOURCE_DIR "/scripts/";
  const auto folder = testing::Shell("/usr/bin/python3 " + scripts + "npz_to_folder.py --npz " + npz.string() +
                                         " --split val --classes normal,pneumonia --count 120 --out " + (dir_ / "xrays").string(),
                                     dir_ / "folder.log");
  ASSERT_EQ(folder.exit_code, 0) << folder.output;
  const auto tuned = testing::Shell("/usr/bin/python3 " + scripts + "finetune_classifier.py --base " MEDPIPE_SOURCE_DIR
                                    "/models/pneumonia --data " + (dir_ / "xrays").string() + " --out " +
                                        (dir_ / "tuned").string() + " --epochs 2 --threads 2 --medpipe " MEDPIPE_BINARY,
                                    dir_ / "tune.log");
  ASSERT_EQ(tuned.exit_code, 0) << tuned.output;
  EXPECT_NE(tuned.output.find("120 images of 2 classes (normal, pneumonia)"), std::string::npos) << tuned.output;
  const auto check = testing::Medpipe("model check " + (dir_ / "tuned").string(), dir_ / "check.log");
  ASSERT_EQ(check.exit_code, 0) << check.output;

  ASSERT_EQ(testing::Medpipe("synth " + (dir_ / "archive").string(), dir_ / "synth.log").exit_code, 0);
  const auto run = testing::Medpipe("run " + (dir_ / "archive" / "dx").string() + " " + (dir_ / "out").string() +
                                        " --model " + (dir_ / "tuned").string() + " --output-types features --device " +
                                        testing::TestDevice(),
                                    dir_ / "run.log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::vector<fs::path> studies;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) studies.push_back(entry.path());
  ASSERT_EQ(studies.size(), 1u);
  testing::ExpectValidResult(studies[0] / "result.json");
  const auto analysis = testing::ReadJson(studies[0] / "result.json")["series"][0]["analyses"][0];
  EXPECT_EQ(analysis["model"], "tuned");
  ASSERT_TRUE(analysis.contains("probabilities")) << analysis.dump(2);
  EXPECT_TRUE(analysis["probabilities"].contains("normal") && analysis["probabilities"].contains("pneumonia"));
  EXPECT_EQ(analysis["explanation"]["method"], "grad-cam");
  EXPECT_EQ(analysis["embedding"].size(), 128u) << "the backbone's 128 feature maps";
  EXPECT_TRUE(fs::exists(studies[0] / analysis["outputs"]["heatmap"].get<std::string>()));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "features.csv"));
}

}  // namespace
}  // namespace medpipe
