// The public hostile DICOM corpus (../shared/data/dicom/hostile/fuzz_corpus_v2: 351 malformed files
// with a manifest) through `medpipe run`: the run ends by itself without a signal, every file of
// the manifest gets a status and a reason, and no input multiplies the outputs.
#include <gtest/gtest.h>

#include <map>

#include "cli_support.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;
using testing::ReadJson;

class HostileCorpus : public testing::TempDirTest {};

// Status per input file, relative to CORPUS: "skipped: reason" from problems.json, "loaded" or
// "failed: error" from each study's result.json.
std::map<std::string, std::string> FileStatuses(const fs::path& out, const fs::path& corpus) {
  std::map<std::string, std::string> statuses;
  const auto relative = [&](const nlohmann::json& path) { return fs::path(path.get<std::string>()).lexically_relative(corpus).string(); };
  for (const auto& problem : ReadJson(out / "problems.json"))
    statuses[relative(problem["path"])] = "skipped: " + problem["reason"].get<std::string>();
  for (const auto& entry : fs::directory_iterator(out / "studies")) {
    const auto result = ReadJson(entry.path() / "result.json");
    for (const auto& series : result["series"])
      for (const auto& path : series["paths"])
        statuses[relative(path)] = series["loaded"] ? "loaded" : "failed: " + series.value("error", std::string());
  }
  return statuses;
}

TEST_F(HostileCorpus, EveryFileGetsAStatusAndTheRunSurvives) {
  const fs::path corpus = fs::path(MEDPIPE_SHARED_DATA) / "dicom" / "hostile" / "fuzz_corpus_v2";
  if (!fs::exists(corpus / "manifest.json")) GTEST_SKIP() << corpus << " is absent";
  const auto run = testing::Shell("timeout 600 " MEDPIPE_BINARY " run " + corpus.string() + " " + (dir_ / "out").string(),
                                  dir_ / "log");
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 1) << "exit " << run.exit_code << " (124: hang, >128: signal)\n" << run.output;

  const auto statuses = FileStatuses(dir_ / "out", corpus);
  size_t cases = 0;
  const auto manifest = ReadJson(corpus / "manifest.json");
  for (const auto& category : manifest["categories"]) {
    for (const auto& item : category["cases"]) {
      const std::string file = item["filename"];
      if (!fs::exists(corpus / file)) continue;  // the README: a few names were changed on copying
      ++cases;
      const auto status = statuses.find(file);
      ASSERT_NE(status, statuses.end()) << file << " has no status";
      EXPECT_TRUE(status->second == "loaded" || status->second.size() > 10) << file << ": " << status->second;
    }
  }
  EXPECT_GE(cases, 340U);
  // Declared 999,999 frames: refused before any frame is decoded or written.
  EXPECT_NE(statuses.at("cat04_pixel_data/TC0339_mf_nf_million.dcm").find("skipped: "), std::string::npos);

  size_t series = 0, outputs = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
    const auto result = ReadJson(entry.path() / "result.json");
    // A 3 MB StudyInstanceUID is kept as a digest, not repeated into outputs.
    EXPECT_LE(result["study_instance_uid"].get<std::string>().size(), 200U);
    for (const auto& s : result["series"]) {
      const std::string uid = s["series_instance_uid"];
      EXPECT_TRUE(uid.size() <= 64 || uid.rfind("folder:", 0) == 0) << uid.size() << " characters";
    }
    series += result["series"].size();
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "out")) outputs += entry.is_regular_file();
  EXPECT_LE(outputs, 2 * series + 10 * statuses.size() / 100 + 10) << "outputs per input must stay bounded";
}

}  // namespace
}  // namespace medpipe
