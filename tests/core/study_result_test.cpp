// result.json as types (medpipe/core/study_result.h): every result a real run writes reads into the
// types and writes back unchanged, what the types say matches the run, and what they write is valid
// against docs/result-schema.json.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "medpipe/core/files.h"
#include "medpipe/core/problem_code.h"
#include "medpipe/core/study_result.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class StudyResultTest : public testing::TempDirTest {
 protected:
  // The demo run: both shipped models over sample_data/ (real and synthetic studies).
  std::vector<std::pair<fs::path, json>> DemoResults() {
    const std::string command = std::string(MEDPIPE_BINARY) + " run " MEDPIPE_SOURCE_DIR "/sample_data " +
                                (dir_ / "out").string() + " --model " MEDPIPE_SOURCE_DIR "/models/hippocampus --model " +
                                MEDPIPE_SOURCE_DIR "/models/pneumonia --device cpu > " + (dir_ / "log").string() + " 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << ReadFile(dir_ / "log");
    std::vector<std::pair<fs::path, json>> results;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies"))
      results.emplace_back(entry.path() / "result.json", json::parse(ReadFile(entry.path() / "result.json")));
    return results;
  }
};

TEST_F(StudyResultTest, EveryResultOfARealRunReadsAsTypesAndWritesBackUnchanged) {
  const auto results = DemoResults();
  ASSERT_GE(results.size(), 6u);
  size_t segmented = 0, positive = 0, negative = 0, skipped = 0;
  for (const auto& [path, original] : results) {
    const auto study = original.get<StudyResult>();
    EXPECT_EQ(json(study), original) << path;
    EXPECT_TRUE(study.ok) << path;
    for (const SeriesResult& series : study.series) {
      EXPECT_EQ(series.disposition, Disposition::Accepted) << series.id;
      for (const Analysis& analysis : series.analyses) {
        skipped += analysis.outcome == Outcome::Skipped;
        if (analysis.model == "hippocampus" && analysis.outcome == Outcome::Ok) {
          ++segmented;
          ASSERT_EQ(analysis.labels.size(), 2u);
          EXPECT_EQ(analysis.labels[0].name, "anterior");
          EXPECT_GT(analysis.labels[0].volume_ml, 1.0);
          EXPECT_EQ(analysis.outputs.count("seg"), 1u);
        }
        if (analysis.decision) {
          EXPECT_EQ(analysis.decision->class_name, "pneumonia");
          positive += analysis.decision->verdict == Verdict::Positive;
          negative += analysis.decision->verdict == Verdict::Negative;
        }
      }
    }
  }
  EXPECT_EQ(segmented, 1u) << "the real hippocampus crop";
  EXPECT_EQ(negative, 1u) << "the real normal X-ray";
  EXPECT_EQ(positive, 2u) << "the real pneumonia X-ray and the synthetic one";
  EXPECT_GT(skipped, 0u);
}

TEST_F(StudyResultTest, ATypedChangeWritesAValidResult) {
  const auto results = DemoResults();
  ASSERT_FALSE(results.empty());
  auto study = results.front().second.get<StudyResult>();
  ASSERT_FALSE(study.series.empty());
  ASSERT_FALSE(study.series.front().analyses.empty());
  Analysis& analysis = study.series.front().analyses.front();
  analysis.outcome = Outcome::Failed;
  analysis.reason = "out of memory";
  study.ok = false;
  const fs::path path = dir_ / "changed.json";
  std::ofstream(path) << json(study).dump();
  testing::ExpectValidResult(path);
  const auto back = json::parse(ReadFile(path)).get<StudyResult>();
  EXPECT_FALSE(back.ok);
  EXPECT_EQ(back.series.front().analyses.front().outcome, Outcome::Failed);
  EXPECT_EQ(back.series.front().analyses.front().reason, "out of memory");
}

TEST(StudyResultTypes, SeriesLeftOutByDesignAreNotRefused) {
  const auto series_of = [](const std::string& problem, bool loaded) {
    return json{{"id", "s"}, {"modality", "CT"}, {"kind", "volume"}, {"loaded", loaded},
                {"problems", problem.empty() ? json::array() : json::array({problem})}, {"analyses", json::array()}}
        .get<SeriesResult>();
  };
  EXPECT_EQ(series_of("localizer: scout image, left out of volumes", false).disposition, Disposition::SkippedByDesign);
  EXPECT_EQ(series_of("secondary_capture: secondary capture, left out of volumes", false).disposition,
            Disposition::SkippedByDesign);
  EXPECT_EQ(series_of("non_image: no pixel data", false).disposition, Disposition::SkippedByDesign);
  EXPECT_EQ(series_of("missing_slices: gap of 2 slices at 40 mm", false).disposition, Disposition::Refused);
  EXPECT_EQ(series_of("", false).disposition, Disposition::Refused) << "failed to decode";
  EXPECT_EQ(series_of("uneven_slice_spacing: slice gaps vary; resampled", true).disposition, Disposition::Accepted);
  const Problem problem = series_of("localizer: scout image, left out of volumes", false).problems.at(0);
  EXPECT_EQ(problem.code, "localizer");
  EXPECT_EQ(problem.detail, "scout image, left out of volumes");
}

TEST(StudyResultTypes, FailuresKeepTheErrorsKindWhereAndMessage) {
  const Failure io = FailureOf(IoError("/data/a.dcm", "cannot be opened"));
  EXPECT_EQ(io.kind, ErrorKind::Io);
  EXPECT_EQ(io.where, "/data/a.dcm");
  EXPECT_EQ(io.message, "/data/a.dcm: cannot be opened");
  EXPECT_TRUE(io.code.empty());
  const Failure other = FailureOf(std::runtime_error("boom"));
  EXPECT_EQ(other.kind, ErrorKind::Internal);
  EXPECT_EQ(other.message, "unexpected failure: boom");
  const Failure refused = RefusalFailure("missing_slices: 2 slice(s) missing", "/data/s1.dcm");
  EXPECT_EQ(refused.code, "missing_slices");
  EXPECT_EQ(refused.kind, ErrorKind::Dicom);
  const json written = refused;
  EXPECT_EQ(written.at("kind"), "dicom");
  const auto back = written.get<Failure>();
  EXPECT_EQ(back.code, refused.code);
  EXPECT_EQ(back.message, refused.message);
  json odd = written;
  odd["kind"] = "cosmic";
  EXPECT_THROW(odd.get<Failure>(), json::exception);
}

// docs/problem-codes.md is what `medpipe codes` prints from the one table.
TEST(ProblemCodes, TheDocumentIsTheTable) {
  EXPECT_EQ(ReadFile(MEDPIPE_SOURCE_DIR "/docs/problem-codes.md"), ProblemCodesMarkdown())
      << "regenerate it: build/pipeline/medpipe codes > docs/problem-codes.md";
  for (const ProblemCodeInfo& info : ProblemCodes()) {
    EXPECT_EQ(ProblemCodeNamed(info.name), info.code) << info.name;
    EXPECT_EQ(ParseProblem(ProblemText(info.code, "detail")).code, info.name);
  }
  EXPECT_FALSE(ProblemCodeNamed("no_such_code"));
}

TEST(StudyResultTypes, DecisionsPrintOneWayAndRefuseUnknownVerdicts) {
  const Decision decision{"pneumonia", 0.3453, 0.0878, Verdict::Positive, "normal"};
  EXPECT_EQ(DecisionText(decision), "pneumonia 0.35 (threshold 0.0878): positive");
  EXPECT_EQ(DecisionText({"normal", 0.91, std::nullopt, Verdict::MostProbable, "normal"}), "normal 0.91 (most probable)");
  const json written = decision;
  EXPECT_EQ(written.at("result"), "positive");
  const auto back = written.get<Decision>();
  EXPECT_EQ(back.verdict, Verdict::Positive);
  EXPECT_EQ(back.most_probable_class, "normal");
  json odd = written;
  odd["result"] = "maybe";
  EXPECT_THROW(odd.get<Decision>(), json::exception);
}

}  // namespace
}  // namespace medpipe
