// The medpipe executable end to end: exit codes and files a scheduler relies on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>
#include <nlohmann/json.hpp>

#include "cli_support.h"
#include "image_support.h"
#include "medpipe/synth/synthetic_study.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;

class Cli : public medpipe::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    medpipe::synth::WriteDemoStudies(dir_ / "archive");
  }
  // The exit code of `medpipe ARGS`.
  int Medpipe(const std::string& args) const { return medpipe::testing::Medpipe(args, dir_ / "log").exit_code; }
};

TEST_F(Cli, RunWritesOneResultPerStudyAndConvertWritesNifti) {
  ASSERT_EQ(Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string()), 0);
  size_t studies = 0, series = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    medpipe::testing::ExpectValidResult(entry.path() / "result.json");
    std::ifstream in(entry.path() / "result.json");
    const auto result = nlohmann::json::parse(in);
    ++studies;
    for (const auto& s : result["series"]) {
      EXPECT_TRUE(s["loaded"].get<bool>());
      ++series;
    }
  }
  EXPECT_EQ(studies, 3u);
  EXPECT_EQ(series, 3u);

  ASSERT_EQ(Medpipe("convert " + (dir_ / "archive").string() + " " + (dir_ / "nifti").string()), 0);
  size_t volumes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "nifti")) {
    if (entry.path().string().size() < 7 || entry.path().string().substr(entry.path().string().size() - 7) != ".nii.gz") continue;
    ++volumes;
    EXPECT_TRUE(fs::exists(fs::path(entry.path().string().substr(0, entry.path().string().size() - 7) + ".json")));
    const auto image = medpipe::ReadNifti(entry.path());
    EXPECT_GT(image->GetLargestPossibleRegion().GetNumberOfPixels(), 0u);
  }
  EXPECT_EQ(volumes, 3u);
}

// The benchmarks' input: one CT of the asked size, spacing and encoding; the scan reads it back.
TEST_F(Cli, SynthWritesACtOfAnySizeAndEncoding) {
  ASSERT_EQ(Medpipe("synth " + (dir_ / "big").string() + " --ct 24x20x4 --spacing 0.5,0.6,2.5 --encoding jpeg-ls --seed 9"), 0);
  ASSERT_EQ(Medpipe("scan " + (dir_ / "big").string() + " --out " + (dir_ / "index.json").string()), 0);
  std::ifstream in(dir_ / "index.json");
  const auto index = nlohmann::json::parse(in);
  ASSERT_EQ(index["studies"].size(), 1u) << index.dump(2);
  const auto& series = index["studies"][0]["series"][0];
  EXPECT_EQ(series["modality"], "CT");
  EXPECT_EQ(series["columns"], 24);
  EXPECT_EQ(series["rows"], 20);
  EXPECT_EQ(series["slices"], 4);
  EXPECT_NEAR(series["slice_spacing_mm"].get<double>(), 2.5, 1e-6);
  EXPECT_EQ(series["transfer_syntax_uid"], "1.2.840.10008.1.2.4.80");  // JPEG-LS lossless
  EXPECT_EQ(Medpipe("synth " + (dir_ / "bad").string() + " --ct 24x20"), 2);
  EXPECT_EQ(Medpipe("synth " + (dir_ / "bad").string() + " --ct 24x20x4 --encoding jpeg"), 2);
  EXPECT_EQ(Medpipe("synth " + (dir_ / "bad").string() + " --ct 24x20x4 --spacing 1,1"), 2);
}

TEST_F(Cli, ExitCodesFollowTheReadme) {
  EXPECT_EQ(Medpipe(""), 2);
  EXPECT_EQ(Medpipe("frobnicate"), 2);
  EXPECT_EQ(Medpipe("run --no-such-option"), 2);
  EXPECT_EQ(Medpipe("scan --help"), 0);
  EXPECT_EQ(Medpipe("scan " + (dir_ / "missing").string()), 3);
  // A corrupt file beside good ones: the good studies still finish, the file is reported.
  std::ofstream(dir_ / "archive" / "ct" / "broken.dcm") << "DICM garbage";
  EXPECT_EQ(Medpipe("run " + (dir_ / "archive").string() + " " + (dir_ / "out").string()), 0);
  std::ifstream in(dir_ / "out" / "problems.json");
  const auto problems = nlohmann::json::parse(in);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0]["path"].get<std::string>().find("broken.dcm"), std::string::npos);
}

// A bad value on the command line is a usage error (exit 2) whose message names the option, the value
// given and what is expected, before any file is read. A library's setting ("overlap") is printed as
// the flag that sets it.
TEST_F(Cli, ABadOptionValueNamesTheOptionTheValueAndWhatIsExpected) {
  const std::string archive = (dir_ / "archive").string(), out = (dir_ / "out").string();
  const std::string run = "run " + archive + " " + out + " ", listen = "listen --out " + out + " ";
  const std::string fetch = "fetch --pacs 127.0.0.1:104 --aec PACS --out " + out + " ";
  const std::string synth = "synth " + (dir_ / "synth").string() + " --ct 8x8x4 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {run + "--max-inflight 0", "--max-inflight: is 0; expected at least 1"},
      {run + "--max-inflight -1", "--max-inflight: is -1; expected a whole number, 0 or more"},
      {run + "--load-threads -2", "--load-threads: is -2; expected a whole number, 0 or more"},
      {"scan " + archive + " --threads -1", "--threads: is -1; expected a whole number, 0 or more"},
      {synth + "--seed -7", "--seed: is -7; expected a whole number, 0 or more"},
      {listen + "--port -1", "--port: is -1; expected a whole number, 0 or more"},
      {run + "--load-threads 0", "--load-threads: is 0; expected at least 1"},
      {run + "--export-threads 0", "--export-threads: is 0; expected at least 1"},
      {run + "--study-timeout -5", "--study-timeout: is -5; expected at least 0 seconds (0: no limit)"},
      {run + "--max-worker-gib -1", "--max-worker-gib: is -1; expected at least 0 GiB"},
      {run + "--net-timeout 0.5", "--net-timeout: is 0.5; expected at least 1 second"},
      {run + "--net-attempts 0", "--net-attempts: is 0; expected at least 1"},
      {run + "--decode-timeout -1", "--decode-timeout: is -1; expected at least 0 seconds"},
      {run + "--max-decode-gib -2", "--max-decode-gib: is -2; expected at least 0 GiB"},
      {"scan " + archive + " --max-image-gib 0", "--max-image-gib: is 0; expected more than 0 GiB"},
      {"convert " + archive + " " + out + " --decode-timeout -3", "--decode-timeout: is -3;"},
      {run + "--overlap 1.5", "--overlap: is 1.5; expected at least 0 and below 1"},
      {run + "--batch-size 0", "--batch-size: is 0; expected at least 1"},
      {run + "--precision fp8", "--precision: 'fp8' is not one of fp32, fp16, bf16, auto"},
      {run + "--shard 4/4", "--shard: is '4/4'; expected I/N"},
      {run + "--studies " + (dir_ / "no-list.txt").string(), "--studies: is '" + (dir_ / "no-list.txt").string() + "'"},
      {run + "--config " + (dir_ / "no.ini").string(), "--config: is '" + (dir_ / "no.ini").string() + "'"},
      {listen + "--port 70000", "--port: is 70000; expected a TCP port, 1 to 65535"},
      {listen + "--quiet-seconds -1", "--quiet-seconds: is -1; expected at least 0 seconds"},
      {listen + "--min-free-gib -1", "--min-free-gib: is -1; expected at least 0 GiB"},
      {listen + "--max-receiver-gib 0", "--max-receiver-gib: is 0; expected more than 0 GiB"},
      {fetch + "--study 1.2 --date 20260101", "--study/--date: both given (--study 1.2, --date 20260101)"},
      {fetch + "--study 1.2 --port 0", "--port: is 0; expected a TCP port"},
      {synth + "--spacing 1,0,1", "--spacing: is '1,0,1'; expected X,Y,Z in mm, each above 0"},
      {synth + "--encoding jpeg", "--encoding: is 'jpeg'; expected one of explicit, jpeg-ls, jpeg2000"},
      {"synth " + (dir_ / "synth").string() + " --ct 0x8x4",
       "--ct: is '0x8x4'; expected COLUMNSxROWSxSLICES, each at least 1"},
  };
  for (const auto& [args, message] : cases) {
    const auto bad = medpipe::testing::Medpipe(args, dir_ / "log");
    EXPECT_EQ(bad.exit_code, 2) << args << "\n" << bad.output;
    EXPECT_NE(bad.output.find("medpipe: " + message), std::string::npos) << args << "\n" << bad.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / "problems.json")) << "a run read the archive despite a bad option";
  EXPECT_FALSE(fs::exists(dir_ / "synth")) << "synth wrote despite a bad option";
}

// A .nii.gz cut short fails its study with the reason, instead of being segmented with zeros for voxels.
TEST_F(Cli, ACutNiftiFailsItsStudyNamingTheFile) {
  auto image = medpipe::MakeImage({{16, 16, 16}}, medpipe::testing::Spacing(1, 1, 1), medpipe::testing::Point(0, 0, 0),
                                  medpipe::testing::Identity());
  for (size_t i = 0; i < image->GetPixelContainer()->Size(); ++i) image->GetBufferPointer()[i] = float((i * 7919) % 3001);
  medpipe::WriteNifti(medpipe::Volume{{image}}, dir_ / "whole.nii.gz");
  const std::string bytes = medpipe::ReadFile(dir_ / "whole.nii.gz");
  fs::create_directories(dir_ / "nifti");
  const fs::path cut = dir_ / "nifti" / "cut.nii.gz";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);

  EXPECT_EQ(Medpipe("run " + (dir_ / "nifti").string() + " " + (dir_ / "out").string()), 1);
  const fs::directory_iterator studies(dir_ / "out" / "studies");
  ASSERT_NE(studies, fs::directory_iterator());
  const fs::path result = studies->path() / "result.json";
  medpipe::testing::ExpectValidResult(result);
  const auto json = medpipe::testing::ReadJson(result);
  EXPECT_EQ(json["status"], "failed");
  ASSERT_EQ(json["series"].size(), 1u);
  EXPECT_FALSE(json["series"][0]["loaded"].get<bool>());
  const std::string error = json["series"][0].value("error", "");
  EXPECT_NE(error.find(cut.string()), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  // For programs: an I/O failure about that file, with the same message.
  const auto& failure = json["series"][0]["failure"];
  EXPECT_EQ(failure["kind"], "io") << failure;
  EXPECT_EQ(failure["where"], cut.string());
  EXPECT_EQ(failure["message"], error);
  EXPECT_FALSE(failure.contains("code"));
  medpipe::testing::ExpectValidResult(studies->path() / "result.json");
}

// A localizer and a screenshot beside a CT series are left out by design: result.json, results.csv and
// the exit code do not count them as failures, and the run counts them apart.
TEST_F(Cli, LocalizersAndScreenshotsAreSkippedByDesignNotFailed) {
  const fs::path ct = dir_ / "archive" / "ct";
  const auto derive = [&](const std::string& name, const std::string& modifications) {
    fs::copy_file(ct / "slice_0001.dcm", ct / name);
    const std::string command = "dcmodify -nb -gse -gin " + modifications + " '" + (ct / name).string() + "' > /dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  };
  derive("scout.dcm", "-m '(0008,0008)=ORIGINAL\\PRIMARY\\LOCALIZER'");
  derive("screenshot.dcm", "-m '(0008,0016)=1.2.840.10008.5.1.4.1.1.7' -e '(0020,0032)' -e '(0020,0037)'");
  const auto run = medpipe::testing::Medpipe("run " + ct.string() + " " + (dir_ / "out").string(), dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("2 series left out by design"), std::string::npos) << run.output;

  size_t left_out = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    medpipe::testing::ExpectValidResult(entry.path() / "result.json");
    const auto result = medpipe::testing::ReadJson(entry.path() / "result.json");
    EXPECT_EQ(result["status"], "ok");
    for (const auto& series : result["series"]) left_out += series["kind"] != "volume";
  }
  EXPECT_EQ(left_out, 2u);
  const std::string csv = medpipe::ReadFile(dir_ / "out" / "results.csv");
  EXPECT_EQ(csv.find(",failed,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",skipped_by_design,,,,,\"localizer: scout image"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",skipped_by_design,,,,,\"secondary_capture: secondary capture"), std::string::npos) << csv;
}

// The reason in result.json is the problem that refused the series, though the GE head CT's uneven
// spacing is recorded first.
TEST_F(Cli, ARefusedTiltIsTheSeriesError) {
  const fs::path ge = fs::path(MEDPIPE_SHARED_DATA) / "dicom/dcm_qa_ct/In/GE";
  if (!fs::exists(ge)) GTEST_SKIP() << ge << " is absent (see ../shared/data/README.md)";
  EXPECT_EQ(Medpipe("run " + ge.string() + " " + (dir_ / "out").string() + " --refuse-gantry-tilt"), 1);
  const fs::directory_iterator studies(dir_ / "out" / "studies");
  ASSERT_NE(studies, fs::directory_iterator());
  const auto json = medpipe::testing::ReadJson(studies->path() / "result.json");
  ASSERT_EQ(json["series"].size(), 1u);
  const std::string error = json["series"][0].value("error", "");
  EXPECT_EQ(error.rfind("gantry_tilt: slices are tilted 18.5", 0), 0u) << error;
  // For programs: the problem code, its kind and the series' first file.
  const auto& failure = json["series"][0]["failure"];
  EXPECT_EQ(failure["code"], "gantry_tilt") << failure;
  EXPECT_EQ(failure["kind"], "dicom");
  EXPECT_EQ(failure["message"], error);
  EXPECT_EQ(failure["where"].get<std::string>().rfind(ge.string(), 0), 0u) << failure;
  medpipe::testing::ExpectValidResult(studies->path() / "result.json");
}

}  // namespace
