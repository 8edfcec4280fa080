// The shipped hippocampus model through `medpipe run` on the real DICOM study it is meant for: the
// manifest's selector picks the hippocampus crop among five MR series and both volumes are reported.
// (The held-out accuracy floors of both models run as the eval_*_floor CTest tests.)
#include <gtest/gtest.h>

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
    // One hippocampus: head and body/tail, each one piece of a human size (the training labels span 1.0-2.9 mL).
    for (const auto& label : analysis["labels"]) {
      EXPECT_EQ(label["components"], 1) << label.dump();
      EXPECT_GT(label["volume_ml"].get<double>(), 0.8) << label.dump();
      EXPECT_LT(label["volume_ml"].get<double>(), 3.5) << label.dump();
    }
    EXPECT_TRUE(fs::exists(studies[0] / analysis["outputs"]["seg"].get<std::string>()));
  }
  EXPECT_EQ(segmented, 1);
  EXPECT_TRUE(fs::exists(studies[0] / result["outputs"]["sr"].get<std::string>()));
}

}  // namespace
}  // namespace medpipe
