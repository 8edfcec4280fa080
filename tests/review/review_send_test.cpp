// Sending what was signed off, against a real PACS (Orthanc on loopback): the batch that
// ReviewSignoffChromium reviewed in Chromium (a study with a SEG accepted, an X-ray study rejected, the
// rest unreviewed) goes out with `run --send ... --send-reviewed-only` and with `medpipe send`; Orthanc
// then holds the accepted study's SEG and SR alone, the SR complete and verified by its reviewer.
#include <gtest/gtest.h>

#include "medpipe/core/json_lines.h"
#include "net/orthanc_support.h"
#include "pipeline/cli_support.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ReviewSend : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::Orthanc::Installed()) GTEST_SKIP() << "Orthanc is not installed (scripts/setup.sh installs it)";
    if (!fs::exists(out_ / "review.jsonl")) GTEST_SKIP() << "no review.jsonl: ReviewSignoffChromium did not sign off";
    ::setenv("TCP_NODELAY", "1", 0);
    for (const auto& entry : ReadJsonLines(out_, "review"))
      if (entry.value("analysis", "").empty() && entry.value("decision", "") != "comment") decided_[entry["study_id"]] = entry;
  }

  // What Orthanc holds of each study of the batch: modality -> instances, empty for none.
  std::map<std::string, std::map<std::string, int>> Held(const testing::Orthanc& orthanc) const {
    std::map<std::string, std::map<std::string, int>> held;
    for (const auto& entry : fs::directory_iterator(out_ / "studies")) {
      if (entry.path().filename().string().front() == '.') continue;
      const json result = testing::ReadJson(entry.path() / "result.json");
      held[entry.path().filename().string()] = orthanc.SeriesOf(result["study_instance_uid"]);
    }
    return held;
  }

  void ExpectOnlyTheAcceptedStudy(const testing::Orthanc& orthanc) const {
    int accepted = 0;
    for (const auto& [study, series] : Held(orthanc)) {
      const auto decision = decided_.find(study);
      if (decision == decided_.end() || decision->second["decision"] != "accept") {
        EXPECT_TRUE(series.empty()) << study << " is not accepted, yet Orthanc has " << series.size() << " series of it";
        continue;
      }
      ++accepted;
      EXPECT_EQ(series, (std::map<std::string, int>{{"SEG", 1}, {"SR", 1}})) << study;
      const json result = testing::ReadJson(out_ / "studies" / study / "result.json");
      const json sr = orthanc.TagsOf(result["study_instance_uid"], "SR");
      ASSERT_TRUE(sr.is_object());
      EXPECT_EQ(sr.value("CompletionFlag", ""), "COMPLETE");
      EXPECT_EQ(sr.value("VerificationFlag", ""), "VERIFIED");
      ASSERT_TRUE(sr.contains("VerifyingObserverSequence")) << sr.dump();
      const json& observer = sr["VerifyingObserverSequence"][0];
      EXPECT_EQ(observer.value("VerifyingObserverName", ""), decision->second["reviewer"]);
      EXPECT_EQ(observer.value("VerifyingOrganization", ""), "Test Radiology");
    }
    EXPECT_EQ(accepted, 1);
  }

  const fs::path work_ = MEDPIPE_REVIEW_WORK, out_ = work_ / "out";
  std::map<std::string, json> decided_;  // study -> its last accept or reject
};

TEST_F(ReviewSend, OnlyTheAcceptedStudysSegAndVerifiedSrReachThePacs) {
  ASSERT_EQ(decided_.size(), 2U) << "one accepted, one rejected";
  fs::remove_all(work_ / "pacs1");
  fs::remove_all(work_ / "pacs2");
  const std::string review_before = ReadFile(out_ / "review.jsonl");
  {
    testing::Orthanc orthanc(work_ / "pacs1", testing::FreePort());
    // The models ViewerBatch ran: with others the studies would be redone, and a changed result is unreviewed.
    const std::string models = ReadFile(fs::path(MEDPIPE_VIEWER_BATCH) / "model_options.txt");
    const auto run = testing::Medpipe("run " MEDPIPE_SOURCE_DIR "/sample_data " + out_.string() + models + " --send " +
                                          orthanc.DicomAddress() + ":ORTHANC --send-reviewed-only",
                                      work_ / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    ExpectOnlyTheAcceptedStudy(orthanc);
  }
  {
    testing::Orthanc orthanc(work_ / "pacs2", testing::FreePort());
    const std::string send = "send " + out_.string() + " --to " + orthanc.DicomAddress() + ":ORTHANC";
    const auto sent = testing::Medpipe(send, work_ / "send.log");
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
    ExpectOnlyTheAcceptedStudy(orthanc);
    const size_t records = ReadJsonLines(out_, "sent").size();
    ASSERT_EQ(testing::Medpipe(send, work_ / "send_again.log").exit_code, 0);
    EXPECT_EQ(ReadJsonLines(out_, "sent").size(), records) << "nothing is sent twice";
  }
  EXPECT_EQ(ReadFile(out_ / "review.jsonl"), review_before) << "sending never writes the ledger";
  EXPECT_EQ(testing::Medpipe("run " + out_.string() + " " + out_.string() + " --send-reviewed-only", work_ / "bad.log").exit_code, 2);
}

}  // namespace
}  // namespace medpipe
