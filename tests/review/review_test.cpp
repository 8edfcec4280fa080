// Sign-off: the ledger and its states, the verified SR, what a reviewed send stores, and the server.
#include <gtest/gtest.h>
#include <httplib.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/review/accepted_objects.h"
#include "medpipe/review/review_ledger.h"
#include "medpipe/review/review_server.h"
#include "medpipe/review/study_review.h"
#include "medpipe/review/verified_sr.h"
#include "test_support.h"

namespace medpipe::review {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kStudy = "0123456789abcdef";

// A minimal Enhanced SR, partial and unverified, as a study's sr.dcm.
void WriteSr(const fs::path& path) {
  DSRDocument document(DSRTypes::DT_EnhancedSR);
  document.setPatientName("Anonymous");
  document.getTree().addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
  document.getTree().getCurrentContentItem().setConceptName(DSRCodedEntryValue("126000", "DCM", "Imaging Measurement Report"));
  DcmFileFormat file;
  ASSERT_TRUE(document.write(*file.getDataset()).good());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
}

std::string Tag(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  item.findAndGetOFString(key, value, 0, true);
  return value.c_str();
}

class ReviewTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    folder_ = dir_ / "studies" / kStudy;
    fs::create_directories(folder_);
    const json analysis = {{"model", "lesion-seg"}, {"version", "1.0"}, {"task", "segmentation"},
                           {"labels", json::array({{{"value", 1}, {"name", "lesion"}, {"volume_ml", 2.5}}})},
                           {"outputs", {{"seg", "1_seg.dcm"}}}};
    const json result = {{"schema_version", 2}, {"study_id", kStudy}, {"study_instance_uid", "1.2.3"}, {"status", "ok"},
                         {"outputs", {{"sr", "sr.dcm"}}},
                         {"series", json::array({{{"id", "ct"}, {"series_number", 2}, {"modality", "CT"}, {"kind", "volume"},
                                                  {"loaded", true}, {"problems", json::array()}, {"analyses", json::array({analysis})}}})}};
    WriteFileAtomically(folder_ / "result.json", result.dump(2));
    WriteFileAtomically(folder_ / "1_seg.dcm", "not really a SEG");
    WriteSr(folder_ / "sr.dcm");
    WriteFileAtomically(dir_ / "report.html", "<!DOCTYPE html><title>report</title>");
  }

  StudyResult Result() const { return json::parse(ReadFile(folder_ / "result.json")).get<StudyResult>(); }

  ReviewEntry Entry(Signoff signoff, const std::string& analysis = "") const {
    const StudyReview now = ReviewOf(folder_, Result(), {});
    return {kStudy, analysis, signoff, "Dr. Rev", "Radiology", "", "2026-12-07T15:21:02Z",
            analysis.empty() ? now.study.sha256 : now.analyses.at(analysis).sha256};
  }

  fs::path folder_;
};

TEST_F(ReviewTest, AcceptedUntilTheResultChangesCommentsDecideNothingAndTornLinesAreSkipped) {
  EXPECT_EQ(ReviewOf(folder_, Result(), ReadReviews(dir_)).study.state, ReviewState::Unreviewed);
  AppendReview(dir_, Entry(Signoff::Accept));
  AppendReview(dir_, Entry(Signoff::Comment));
  std::ofstream(dir_ / kLedgerName, std::ios::app) << "{\"study_id\": \"0123";  // a crash mid-line
  const auto ledger = ReadReviews(dir_);
  ASSERT_EQ(ledger.size(), 2U);
  EXPECT_EQ(ledger[0].reviewer, "Dr. Rev");
  EXPECT_EQ(ledger[0].organization, "Radiology");
  const StudyReview review = ReviewOf(folder_, Result(), ledger);
  EXPECT_EQ(review.study.state, ReviewState::Accepted);
  EXPECT_EQ(review.analyses.at("ct/lesion-seg").state, ReviewState::Unreviewed);
  EXPECT_EQ(review.history.size(), 2U);

  // The SEG changes: the study (and the analysis that wrote it) is unreviewed again.
  const std::string analysis_before = review.analyses.at("ct/lesion-seg").sha256;
  WriteFileAtomically(folder_ / "1_seg.dcm", "another SEG");
  const StudyReview changed = ReviewOf(folder_, Result(), ReadReviews(dir_));
  EXPECT_EQ(changed.study.state, ReviewState::Unreviewed);
  EXPECT_NE(changed.analyses.at("ct/lesion-seg").sha256, analysis_before);

  AppendReview(dir_, Entry(Signoff::Reject, "ct/lesion-seg"));
  EXPECT_EQ(ReviewOf(folder_, Result(), ReadReviews(dir_)).analyses.at("ct/lesion-seg").state, ReviewState::Rejected);
}

TEST_F(ReviewTest, VerifiedSrIsCompleteVerifiedByTheReviewerUnderANewUidAndTheOriginalStays) {
  const std::string original = Sha256File(folder_ / "sr.dcm");
  WriteVerifiedSr(folder_ / "sr.dcm", dir_ / "verified" / "sr.dcm", "Rev^Dr", "Radiology", DicomDateTime("2026-12-07T15:21:02Z"));
  EXPECT_EQ(Sha256File(folder_ / "sr.dcm"), original);
  DcmFileFormat before, after;
  ASSERT_TRUE(before.loadFile((folder_ / "sr.dcm").c_str()).good());
  ASSERT_TRUE(after.loadFile((dir_ / "verified" / "sr.dcm").c_str()).good());
  DcmDataset& verified = *after.getDataset();
  EXPECT_EQ(Tag(*before.getDataset(), DCM_VerificationFlag), "UNVERIFIED");
  EXPECT_EQ(Tag(verified, DCM_CompletionFlag), "COMPLETE");
  EXPECT_EQ(Tag(verified, DCM_VerificationFlag), "VERIFIED");
  EXPECT_NE(Tag(verified, DCM_SOPInstanceUID), Tag(*before.getDataset(), DCM_SOPInstanceUID));
  DcmItem* observer = nullptr;
  ASSERT_TRUE(verified.findAndGetSequenceItem(DCM_VerifyingObserverSequence, observer, 0).good());
  EXPECT_EQ(Tag(*observer, DCM_VerifyingObserverName), "Rev^Dr");
  EXPECT_EQ(Tag(*observer, DCM_VerifyingOrganization), "Radiology");
  EXPECT_EQ(Tag(*observer, DCM_VerificationDateTime).substr(0, 14), "20261207152102");
  EXPECT_EQ(DicomDateTime("yesterday"), "");
  EXPECT_THROW(WriteVerifiedSr(folder_ / "1_seg.dcm", dir_ / "x.dcm", "a", "b", ""), DicomError);
}

TEST_F(ReviewTest, OnlyAnAcceptedUnchangedStudySendsItsObjectsWithTheVerifiedSrMadeOnce) {
  EXPECT_TRUE(AcceptedObjects(dir_, kStudy).empty()) << "unreviewed";
  AppendReview(dir_, Entry(Signoff::Accept));
  const auto objects = AcceptedObjects(dir_, kStudy);
  ASSERT_EQ(objects.size(), 2U);
  EXPECT_EQ(objects[0], folder_ / "1_seg.dcm");
  EXPECT_EQ(objects[1].parent_path(), dir_ / "verified" / kStudy);
  EXPECT_EQ(AcceptedObjects(dir_, kStudy), objects) << "the same acceptance sends the same verified SR";
  const std::string verified = Sha256File(objects[1]);
  EXPECT_EQ(Sha256File(AcceptedObjects(dir_, kStudy)[1]), verified);

  AppendReview(dir_, Entry(Signoff::Reject));
  EXPECT_TRUE(AcceptedObjects(dir_, kStudy).empty()) << "rejected";
  AppendReview(dir_, Entry(Signoff::Accept));
  WriteFileAtomically(folder_ / "1_seg.dcm", "changed after review");
  EXPECT_TRUE(AcceptedObjects(dir_, kStudy).empty()) << "changed since it was accepted";
}

class ServedTest : public ReviewTest {
 protected:
  void SetUp() override {
    ReviewTest::SetUp();
    server_ = std::make_unique<ReviewServer>(dir_, ServerOptions{"127.0.0.1", 0, false, "Radiology", ""});
    thread_ = std::thread([this] { server_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->Port());
    for (int i = 0; i < 50 && !client_->Get("/"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  void TearDown() override {
    server_->Stop();
    thread_.join();
    ReviewTest::TearDown();
  }

  httplib::Headers Session() const { return {{"Cookie", "medpipe_review_" + std::to_string(server_->Port()) + "=" + server_->Token()}}; }

  httplib::Result Post(const json& body, httplib::Headers headers) const {
    return client_->Post("/api/review", headers, body.dump(), "application/json");
  }

  std::unique_ptr<ReviewServer> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServedTest, TheTokenOpensASessionAndNothingOutsideOutIsServed) {
  EXPECT_EQ(client_->Get("/report.html")->status, 403);
  EXPECT_EQ(client_->Get("/report.html?token=wrong")->status, 403);
  const auto opened = client_->Get(("/report.html?token=" + server_->Token()).c_str());
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->status, 302);
  EXPECT_NE(opened->get_header_value("Set-Cookie").find("HttpOnly; SameSite=Strict"), std::string::npos);
  const auto page = client_->Get("/report.html", Session());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "<!DOCTYPE html><title>report</title>");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");

  fs::create_directories(dir_ / "studies" / ".staging");
  WriteFileAtomically(dir_ / "studies" / ".staging" / "result.json", "{}");
  fs::create_symlink("/etc/hostname", folder_ / "outside.txt");
  WriteFileAtomically(dir_.parent_path() / "secret.txt", "secret");
  for (const char* path : {"/../secret.txt", "/studies/../../secret.txt", "/%2e%2e/secret.txt", "/studies/.staging/result.json",
                           "/studies/0123456789abcdef/outside.txt", "/etc/passwd", "/nothing.html"}) {
    const auto answer = client_->Get(path, Session());
    EXPECT_TRUE(!answer || answer->status == 404 || answer->status == 400) << path << " " << (answer ? answer->status : 0);
    if (answer) {
      EXPECT_EQ(answer->body.find("secret"), std::string::npos) << path;
    }
  }
  EXPECT_EQ(client_->Get("/studies/0123456789abcdef/result.json", Session())->status, 200);
}

TEST_F(ServedTest, ASignOffIsAppendedWithTheDigestOfWhatWasReviewedAndForgedOrStaleOnesAreRefused) {
  const auto state = client_->Get("/api/review?study=0123456789abcdef", Session());
  ASSERT_TRUE(state);
  ASSERT_EQ(state->status, 200);
  const json review = json::parse(state->body)["review"];
  EXPECT_EQ(review["state"], "unreviewed");
  const json accept = {{"study_id", kStudy}, {"analysis", ""}, {"decision", "accept"}, {"reviewer", "Dr. <b>Rev</b>"},
                       {"comment", "fine"}, {"sha256", review["sha256"]}};
  auto headers = Session();
  EXPECT_EQ(Post(accept, headers)->status, 403) << "no X-Medpipe-Review header";
  headers.emplace("X-Medpipe-Review", "1");
  auto cross = headers;
  cross.emplace("Origin", "http://evil.example");
  EXPECT_EQ(Post(accept, cross)->status, 403);
  EXPECT_EQ(Post(accept, {{"X-Medpipe-Review", "1"}})->status, 403) << "no session";
  auto bad = accept;
  bad["decision"] = "approve";
  EXPECT_EQ(Post(bad, headers)->status, 400);
  bad = accept;
  bad["reviewer"] = "two\nlines";
  EXPECT_EQ(Post(bad, headers)->status, 400);
  bad["reviewer"] = "a=b=c=d";
  EXPECT_EQ(Post(bad, headers)->status, 400) << "not a person name";
  bad = accept;
  bad["study_id"] = "../studies";
  EXPECT_EQ(Post(bad, headers)->status, 404);
  bad = accept;
  bad["sha256"] = std::string(64, '0');
  EXPECT_EQ(Post(bad, headers)->status, 409);
  EXPECT_FALSE(fs::exists(dir_ / kLedgerName));

  const auto done = Post(accept, headers);
  ASSERT_EQ(done->status, 200) << done->body;
  EXPECT_EQ(json::parse(done->body)["review"]["state"], "accepted");
  const auto ledger = ReadReviews(dir_);
  ASSERT_EQ(ledger.size(), 1U);
  EXPECT_EQ(ledger[0].reviewer, "Dr. <b>Rev</b>");
  EXPECT_EQ(ledger[0].organization, "Radiology");
  EXPECT_EQ(ledger[0].sha256, StudyDigest(folder_));
  EXPECT_FALSE(DicomDateTime(ledger[0].time).empty());

  json on_analysis = accept;
  on_analysis["analysis"] = "ct/nothing";
  EXPECT_EQ(Post(on_analysis, headers)->status, 404);
  on_analysis["analysis"] = "ct/lesion-seg";
  on_analysis["decision"] = "reject";
  on_analysis["sha256"] = review["analyses"]["ct/lesion-seg"]["sha256"];
  EXPECT_EQ(Post(on_analysis, headers)->status, 200);
  EXPECT_EQ(json::parse(client_->Get("/api/review", Session())->body)["studies"][kStudy]["analyses"]["ct/lesion-seg"]["state"],
            "rejected");
}

TEST_F(ReviewTest, ANonLoopbackAddressNeedsBind) {
  EXPECT_TRUE(IsLoopback("127.0.0.1"));
  EXPECT_TRUE(IsLoopback("127.1.2.3"));
  EXPECT_TRUE(IsLoopback("::1"));
  EXPECT_FALSE(IsLoopback("0.0.0.0"));
  EXPECT_FALSE(IsLoopback("192.168.1.4"));
  EXPECT_THROW(ReviewServer(dir_, ServerOptions{"0.0.0.0", 0, false, "x", ""}), ConfigError);
  ReviewServer bound(dir_, ServerOptions{"0.0.0.0", 0, true, "x", ""});
  EXPECT_GT(bound.Port(), 0);
  EXPECT_THROW(ReviewServer(dir_ / "studies", ServerOptions{}), IoError) << "no report.html there";
}

}  // namespace
}  // namespace medpipe::review
