// Hospital integration against a real PACS (Orthanc on loopback): medpipe fetches studies by date and
// by UID (C-FIND, then C-GET or C-MOVE), runs, and sends SEG and SR back under the right study;
// `medpipe listen` receives studies from storescu in every transfer syntax ingest reads and runs
// them; refused associations, dead peers, silent peers and dropped connections give clear errors
// and leave nothing half-stored.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <set>
#include <cstring>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/json_lines.h"
#include "medpipe/dicom/file_header_reader.h"
#include "medpipe/net/storage_server.h"
#include "orthanc_support.h"
#include "pipeline/cli_support.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;

const fs::path kStudy1 = fs::path(MEDPIPE_SHARED_DATA) / "hippocampus/data/TestVolumes/Study1";  // MR, StudyDate 20200119
const fs::path kGeCt = fs::path(MEDPIPE_SHARED_DATA) / "dicom/dcm_qa_ct/In/GE";                   // CT, no StudyDate
const char* kStudy1Uid = "1.3.6.1.4.1.14519.5.2.1.4429.7055.290332099546120305394775536058";
const char* kGeCtUid = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";

size_t FilesIn(const fs::path& folder) {
  size_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) count += entry.is_regular_file();
  return count;
}

std::vector<nlohmann::json> LedgerOf(const fs::path& out) { return ReadJsonLines(out, "sent"); }

class Pacs : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (!testing::Orthanc::Installed()) GTEST_SKIP() << "Orthanc is not installed (scripts/setup.sh installs it)";
    if (!fs::exists(kStudy1) || !fs::exists(kGeCt)) GTEST_SKIP() << "../shared/data is absent (see its README)";
    // Orthanc and storescu (DCMTK) with Nagle's algorithm off, as medpipe runs: 10 times faster.
    ::setenv("TCP_NODELAY", "1", 0);
  }
  testing::Run Medpipe(const std::string& args, const std::string& log) { return testing::Medpipe(args, dir_ / log); }
};

TEST_F(Pacs, FetchByDateRunAndSendSegAndSrBackUnderTheStudy) {
  const uint16_t unused_port = testing::FreePort();
  testing::Orthanc orthanc(dir_ / "orthanc", unused_port);
  orthanc.Upload(kStudy1);
  orthanc.Upload(kGeCt);

  // A night's studies by date: Study1 only (the GE CT has no date).
  const auto fetched = Medpipe("fetch --pacs " + orthanc.DicomAddress() + " --aec ORTHANC --date 20200101-20200131 --out " +
                                   (dir_ / "fetched").string(), "fetch.log");
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  EXPECT_EQ(FilesIn(dir_ / "fetched"), 120u) << "every object of Study1, nothing of the CT";
  EXPECT_NE(fetched.output.find("\"retrieved\": 120"), std::string::npos) << fetched.output;

  // The PACS is down while the run ends: results are kept, the failure is recorded, the exit code says so.
  const std::string run = "run " + (dir_ / "fetched").string() + " " + (dir_ / "out").string() +
                          " --model " MEDPIPE_SOURCE_DIR "/models/hippocampus --device cpu --net-attempts 2 --send ";
  const auto offline = Medpipe(run + "127.0.0.1:" + std::to_string(unused_port) + ":ORTHANC", "offline.log");
  EXPECT_EQ(offline.exit_code, 1) << offline.output;
  EXPECT_NE(offline.output.find("Connection refused"), std::string::npos) << offline.output;
  EXPECT_NE(offline.output.find("try 1 of 2 failed"), std::string::npos) << "retried with backoff: " << offline.output;
  ASSERT_EQ(LedgerOf(dir_ / "out").size(), 1u);
  EXPECT_EQ(LedgerOf(dir_ / "out")[0]["status"], "failed");
  EXPECT_EQ(orthanc.SeriesOf(kStudy1Uid), (std::map<std::string, int>{{"MR", 120}}));

  // The sending process dies (a crash in the network code, say): the run goes on to its end and says
  // so; nothing is recorded as sent.
  const auto crashed = testing::Shell("MEDPIPE_FAILPOINT=sending " MEDPIPE_BINARY " " + run + orthanc.DicomAddress() + ":ORTHANC",
                                      dir_ / "crashed.log");
  EXPECT_EQ(crashed.exit_code, 1) << crashed.output;
  EXPECT_NE(crashed.output.find("the process sending results ended: exit code 86"), std::string::npos) << crashed.output;
  EXPECT_EQ(LedgerOf(dir_ / "out").size(), 1u);

  // The rerun processes nothing again but sends what was not sent: one SEG and one SR, in Study1.
  const auto online = Medpipe(run + orthanc.DicomAddress() + ":ORTHANC", "online.log");
  ASSERT_EQ(online.exit_code, 0) << online.output;
  EXPECT_NE(online.output.find("1 skipped"), std::string::npos) << online.output;
  EXPECT_EQ(orthanc.SeriesOf(kStudy1Uid), (std::map<std::string, int>{{"MR", 120}, {"SEG", 1}, {"SR", 1}}));
  EXPECT_EQ(LedgerOf(dir_ / "out").back()["status"], "sent");

  // Once sent, never twice.
  const auto again = Medpipe(run + orthanc.DicomAddress() + ":ORTHANC", "again.log");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(LedgerOf(dir_ / "out").size(), 2u);
}

TEST_F(Pacs, FetchByUidWithCMoveToMedpipesOwnPort) {
  const uint16_t move_port = testing::FreePort();
  testing::Orthanc orthanc(dir_ / "orthanc", move_port);
  orthanc.Upload(kGeCt);
  const std::string fetch = "fetch --pacs " + orthanc.DicomAddress() + " --aec ORTHANC --out " + (dir_ / "fetched").string() +
                            " --port " + std::to_string(move_port) + " --study ";
  const auto moved = Medpipe(fetch + kGeCtUid, "move.log");
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_EQ(FilesIn(dir_ / "fetched" / ShortId(kGeCtUid)), FilesIn(kGeCt));
  // The same objects again change nothing; an unknown study is reported and retrieves nothing.
  const auto repeated = Medpipe(fetch + kGeCtUid + " --study 1.2.3.4", "repeat.log");
  ASSERT_EQ(repeated.exit_code, 0) << repeated.output;
  EXPECT_NE(repeated.output.find("study 1.2.3.4 is not on ORTHANC"), std::string::npos) << repeated.output;
  EXPECT_EQ(FilesIn(dir_ / "fetched"), FilesIn(kGeCt));
  EXPECT_EQ(FilesIn(dir_ / "fetched" / ".partial"), 0u);
}

// CVE-2026-50003: DCMTK 3.6.7's bit-preserving C-GET names the received file after the SOP Instance
// UID the peer sends. A PACS holding an object whose UID is a relative path hands that path to
// medpipe; the object is filed under hashed names inside OUT and nothing is written where the path
// points.
TEST_F(Pacs, AnObjectWhoseUidIsAPathIsFiledInsideTheOutputOnly) {
  testing::Orthanc orthanc(dir_ / "orthanc", testing::FreePort());
  const std::string evil_uid = "../../escaped";
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(fs::directory_iterator(kGeCt)->path().c_str()).good());
  file.getDataset()->putAndInsertString(DCM_SOPInstanceUID, evil_uid.c_str());
  file.getDataset()->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.9.999.1");
  fs::create_directories(dir_ / "evil");
  ASSERT_TRUE(file.saveFile((dir_ / "evil" / "evil.dcm").c_str()).good());
  orthanc.Upload(dir_ / "evil");

  // DCMTK would write the UID as a path relative to its storage folder, or else to the working
  // directory: run from OUT, that is OUT/../../escaped, dir_/a/escaped.
  const fs::path out = dir_ / "a" / "b" / "fetched";
  fs::create_directories(out);
  const auto fetched = testing::Shell("cd " + out.string() + " && " MEDPIPE_BINARY " fetch --pacs " + orthanc.DicomAddress() +
                                          " --aec ORTHANC --study 1.2.826.0.1.3680043.9.999.1 --out " + out.string(),
                                      dir_ / "fetch.log");
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  EXPECT_FALSE(fs::exists(dir_ / "a" / "escaped"));
  const fs::path filed = out / ShortId("1.2.826.0.1.3680043.9.999.1") / (ShortId(evil_uid) + ".dcm");
  ASSERT_TRUE(fs::exists(filed)) << fetched.output;
  EXPECT_EQ(dicom::ReadFileHeader(filed.string()).sop_instance_uid, evil_uid);
  EXPECT_EQ(FilesIn(dir_ / "a"), 1u) << "nothing else was written";
}

// The PACS's connection drops mid-object during a C-GET: the retry brings the study whole and the
// cut object was never filed.
TEST_F(Pacs, ARetrievalCutMidObjectIsRetriedAndFilesOnlyWholeObjects) {
  testing::Orthanc orthanc(dir_ / "orthanc", testing::FreePort());
  orthanc.Upload(kStudy1);
  const uint16_t proxy_port = testing::FreePort();
  const std::string orthanc_port = orthanc.DicomAddress().substr(orthanc.DicomAddress().rfind(':') + 1);
  const pid_t proxy = testing::StartCuttingProxy(proxy_port, static_cast<uint16_t>(std::stoi(orthanc_port)), 5000000, "from_target",
                                                 dir_ / "proxy.log");
  const auto fetched = Medpipe("fetch --pacs 127.0.0.1:" + std::to_string(proxy_port) + " --aec ORTHANC --study " + kStudy1Uid +
                                   " --out " + (dir_ / "fetched").string(), "fetch.log");
  testing::StopProcess(proxy, SIGKILL);
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;
  EXPECT_NE(fetched.output.find("try 1 of 3 failed"), std::string::npos) << fetched.output;
  EXPECT_EQ(FilesIn(dir_ / "fetched" / ShortId(kStudy1Uid)), 120u);
  EXPECT_EQ(FilesIn(dir_ / "fetched" / ".partial"), 0u);
  for (const auto& entry : fs::directory_iterator(dir_ / "fetched" / ShortId(kStudy1Uid)))
    EXPECT_NO_THROW(dicom::ReadFileHeader(entry.path().string())) << entry.path();
}

TEST_F(Pacs, ListenReceivesEveryTransferSyntaxRunsTheStudyAndSendsResults) {
  testing::Orthanc orthanc(dir_ / "orthanc", testing::FreePort());
  const uint16_t port = testing::FreePort();
  const pid_t listener = testing::StartProcess(
      {MEDPIPE_BINARY, "listen", "--out", (dir_ / "out").string(), "--port", std::to_string(port), "--allow-aet", "MODALITY",
       "--quiet-seconds", "1", "--model", MEDPIPE_SOURCE_DIR "/models/hippocampus", "--device", "cpu", "--send",
       orthanc.DicomAddress() + ":ORTHANC"},
      dir_ / "listen.log");
  const std::string storescu = "storescu -aet MODALITY -aec MEDPIPE 127.0.0.1 " + std::to_string(port) + " ";
  ASSERT_TRUE(testing::WaitFor(30, [&] {
    return testing::Shell("echoscu -aet MODALITY -aec MEDPIPE 127.0.0.1 " + std::to_string(port), dir_ / "echo.log").exit_code == 0;
  })) << ReadFile(dir_ / "listen.log");

  // A caller that is not allowed is turned away before it sends anything.
  const auto stranger = testing::Shell("storescu -aet STRANGER -aec MEDPIPE 127.0.0.1 " + std::to_string(port) + " " +
                                           fs::directory_iterator(kGeCt)->path().string(), dir_ / "stranger.log");
  EXPECT_NE(stranger.exit_code, 0);
  EXPECT_NE(stranger.output.find("Calling AE Title Not Recognized"), std::string::npos) << stranger.output;

  // The hippocampus crop series, as a modality sends it; then one slice in each transfer syntax
  // (storescu proposes the compressed ones only when told to).
  const fs::path crop = kStudy1 / "13_HCropVolume";
  ASSERT_EQ(testing::Shell(storescu + "+sd +r " + crop.string(), dir_ / "crop.log").exit_code, 0);
  const fs::path ts = fs::path(MEDPIPE_SHARED_DATA) / "dicom/dcm_qa_ts/In";
  for (const auto& [option, files] : std::vector<std::pair<std::string, std::string>>{
           {"", "1.dcm 2.dcm 3.dcm"}, {"-xr", "4.dcm"}, {"-xs", "5.dcm 6.dcm"}, {"-xt", "7.dcm 8.dcm"}, {"-xv", "9.dcm"}}) {
    std::string paths;
    std::istringstream names(files);
    for (std::string name; names >> name;) paths += (ts / name).string() + " ";
    const auto sent = testing::Shell(storescu + option + " " + paths, dir_ / "ts.log");
    EXPECT_EQ(sent.exit_code, 0) << option << ": " << sent.output;
  }

  const fs::path crop_study = dir_ / "out" / "studies" / ShortId(kStudy1Uid) / "result.json";
  ASSERT_TRUE(testing::WaitFor(120, [&] { return fs::exists(crop_study) && orthanc.SeriesOf(kStudy1Uid).count("SR"); }))
      << ReadFile(dir_ / "listen.log");
  EXPECT_EQ(FilesIn(dir_ / "out" / "incoming" / ShortId(kStudy1Uid)), 32u);
  EXPECT_EQ(orthanc.SeriesOf(kStudy1Uid), (std::map<std::string, int>{{"SEG", 1}, {"SR", 1}}));
  // The nine slices arrived in their own transfer syntaxes (big endian as storescu converts it:
  // explicit little endian; dcm_qa_ts's two JPEG lossless files are both SV1) and were all read.
  std::set<std::string> syntaxes;
  fs::path ts_study;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "incoming"))
    if (entry.path().filename() != ShortId(kStudy1Uid) && entry.path().filename().string()[0] != '.') ts_study = entry.path();
  ASSERT_FALSE(ts_study.empty());
  for (const auto& file : fs::directory_iterator(ts_study)) syntaxes.insert(dicom::ReadFileHeader(file.path().string()).transfer_syntax_uid);
  EXPECT_EQ(FilesIn(ts_study), 9u);
  EXPECT_EQ(syntaxes, (std::set<std::string>{"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.70",
                                             "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"}));
  const fs::path ts_result = dir_ / "out" / "studies" / ts_study.filename() / "result.json";
  ASSERT_TRUE(testing::WaitFor(60, [&] { return fs::exists(ts_result); })) << ReadFile(dir_ / "listen.log");
  EXPECT_EQ(testing::ReadJson(ts_result)["status"], "ok");

  EXPECT_EQ(testing::StopProcess(listener), 0) << ReadFile(dir_ / "listen.log");
}

TEST_F(Pacs, RefusedSilentAndDroppedAssociationsGiveClearErrorsAndStoreNothingHalf) {
  const uint16_t port = testing::FreePort();
  const pid_t listener = testing::StartProcess({MEDPIPE_BINARY, "listen", "--out", (dir_ / "out").string(), "--port",
                                                std::to_string(port), "--allow-aet", "MODALITY", "--quiet-seconds", "3600"},
                                               dir_ / "listen.log");
  ASSERT_TRUE(testing::WaitFor(30, [&] {
    return testing::Shell("echoscu -aet MODALITY -aec MEDPIPE 127.0.0.1 " + std::to_string(port), dir_ / "echo.log").exit_code == 0;
  })) << ReadFile(dir_ / "listen.log");

  // A second listener on the same port cannot start, and says why.
  const auto second = Medpipe("listen --out " + (dir_ / "second").string() + " --port " + std::to_string(port), "second.log");
  EXPECT_EQ(second.exit_code, 3) << second.output;
  EXPECT_NE(second.output.find("port " + std::to_string(port) + ": cannot listen: Address already in use"), std::string::npos)
      << second.output;

  // medpipe's SCU turned away (its AE title is not allowed there): said at once, not retried.
  const auto refused = Medpipe("fetch --pacs 127.0.0.1:" + std::to_string(port) + " --aec MEDPIPE --study 1.2.3 --out " +
                                   (dir_ / "fetched").string(), "refused.log");
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find("MEDPIPE at 127.0.0.1:" + std::to_string(port) + ": refused the association"), std::string::npos)
      << refused.output;
  EXPECT_EQ(refused.output.find("try 1 of"), std::string::npos) << "a refusal is not retried: " << refused.output;

  // A peer that accepts the connection and never answers: a timeout, retried, then a clear error.
  const uint16_t silent_port = testing::FreePort();
  const pid_t silent = testing::StartProcess(
      {"/usr/bin/python3", "-c",
       "import socket, time\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
       "s.bind(('127.0.0.1', " + std::to_string(silent_port) + ")); s.listen(8)\nkept = []\n"
       "while True: kept.append(s.accept())"},
      dir_ / "silent.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto timed_out = Medpipe("fetch --pacs 127.0.0.1:" + std::to_string(silent_port) +
                                     " --aec SILENT --net-timeout 1 --net-attempts 2 --date 20200119 --out " + (dir_ / "fetched").string(),
                                 "silent-fetch.log");
  testing::StopProcess(silent, SIGKILL);
  EXPECT_EQ(timed_out.exit_code, 3) << timed_out.output;
  EXPECT_NE(timed_out.output.find("try 1 of 2 failed"), std::string::npos) << timed_out.output;
  EXPECT_NE(timed_out.output.find("SILENT at 127.0.0.1:" + std::to_string(silent_port)), std::string::npos) << timed_out.output;

  // A connection cut mid-object (a proxy forwards the first 1.3 MB, then closes both sides):
  // the objects that came whole are filed, the cut one is not, nothing partial is left.
  synth::VolumeSpec large;
  large.columns = large.rows = 512;
  large.slices = 20;
  synth::WriteSyntheticCt(dir_ / "large", large, 3);
  const uint16_t proxy_port = testing::FreePort();
  const pid_t proxy = testing::StartCuttingProxy(proxy_port, port, 1300000, "to_target", dir_ / "proxy.log");
  const auto cut = testing::Shell("storescu -aet MODALITY -aec MEDPIPE +sd +r 127.0.0.1 " + std::to_string(proxy_port) + " " +
                                      (dir_ / "large").string(), dir_ / "cut.log");
  testing::StopProcess(proxy, SIGKILL);
  EXPECT_NE(cut.exit_code, 0) << cut.output;
  ASSERT_TRUE(testing::WaitFor(10, [&] { return ReadFile(dir_ / "listen.log").find("failed, nothing stored") != std::string::npos; }))
      << ReadFile(dir_ / "listen.log");
  EXPECT_EQ(FilesIn(dir_ / "out" / "incoming" / ".partial"), 0u) << "a partial object stayed";
  size_t filed = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "out" / "incoming"))
    if (entry.is_regular_file()) {
      EXPECT_NO_THROW(dicom::ReadFileHeader(entry.path().string())) << entry.path();
      ++filed;
    }
  EXPECT_EQ(filed, 2u) << "two 512 KiB slices fit in 1.3 MB, the third was cut";
  EXPECT_EQ(testing::StopProcess(listener), 0) << ReadFile(dir_ / "listen.log");
}

class NetOptions : public testing::TempDirTest {};
class Listener : public testing::TempDirTest {};

// The hostile corpus sent over the network (as far as storescu can send it): each object is filed or
// refused with its reason, the receiving process is never replaced, and every study filed is run.
TEST_F(Listener, HostileObjectsAreFiledOrRefusedAndTheReceiverStays) {
  const fs::path corpus = fs::path(MEDPIPE_SHARED_DATA) / "dicom/hostile/fuzz_corpus_v2";
  if (!fs::exists(corpus)) GTEST_SKIP() << corpus << " is absent (see ../shared/data/README.md)";
  const uint16_t port = testing::FreePort();
  const pid_t listener = testing::StartProcess({MEDPIPE_BINARY, "listen", "--out", (dir_ / "out").string(), "--port",
                                                std::to_string(port), "--quiet-seconds", "1"},
                                               dir_ / "listen.log");
  const auto answers_echo = [&] {
    return testing::Shell("echoscu -aec MEDPIPE 127.0.0.1 " + std::to_string(port), dir_ / "echo.log").exit_code == 0;
  };
  ASSERT_TRUE(testing::WaitFor(30, answers_echo)) << ReadFile(dir_ / "listen.log");
  testing::Shell("storescu -aec MEDPIPE +sd +r -R --no-halt 127.0.0.1 " + std::to_string(port) + " " + corpus.string(), dir_ / "send.log");
  std::vector<fs::path> studies;
  for (const auto& entry : fs::directory_iterator(dir_ / "out" / "incoming"))
    if (entry.path().filename().string()[0] != '.') studies.push_back(entry.path().filename());
  EXPECT_GE(studies.size(), 5u);
  EXPECT_TRUE(testing::WaitFor(120, [&] {
    for (const auto& study : studies)
      if (!fs::exists(dir_ / "out" / "studies" / study / "result.json")) return false;
    return true;
  })) << ReadFile(dir_ / "listen.log");
  EXPECT_TRUE(answers_echo());
  EXPECT_EQ(testing::StopProcess(listener), 0);
  const std::string log = ReadFile(dir_ / "listen.log");
  EXPECT_EQ(log.find("starting a new one"), std::string::npos) << log;
  size_t refused = 0;
  for (size_t at = 0; (at = log.find("WARNING refused object ", at)) != std::string::npos; ++at) ++refused;
  EXPECT_GE(refused, 10u) << log;
  EXPECT_NE(log.find("BitsAllocated is 128"), std::string::npos) << "refusals say why: " << log;
  EXPECT_EQ(FilesIn(dir_ / "out" / "incoming" / ".partial"), 0u);
}

// A listener whose disk is nearly full refuses objects (out of resources) instead of filling it.
TEST_F(Listener, RefusesObjectsWhileItsDiskIsNearlyFull) {
  if (!fs::exists(kGeCt)) GTEST_SKIP() << kGeCt << " is absent (see ../shared/data/README.md)";
  const uint16_t port = testing::FreePort();
  const pid_t listener = testing::StartProcess({MEDPIPE_BINARY, "listen", "--out", (dir_ / "out").string(), "--port",
                                                std::to_string(port), "--min-free-gib", "1000000"},
                                               dir_ / "listen.log");
  ASSERT_TRUE(testing::WaitFor(30, [&] {
    return testing::Shell("echoscu -aec MEDPIPE 127.0.0.1 " + std::to_string(port), dir_ / "echo.log").exit_code == 0;
  })) << ReadFile(dir_ / "listen.log");
  const auto sent = testing::Shell("storescu -v -aec MEDPIPE 127.0.0.1 " + std::to_string(port) + " " +
                                       fs::directory_iterator(kGeCt)->path().string(), dir_ / "send.log");
  EXPECT_NE(sent.exit_code, 0) << sent.output;
  EXPECT_NE(sent.output.find("Refused: OutOfResources"), std::string::npos) << sent.output;
  EXPECT_EQ(FilesIn(dir_ / "out" / "incoming"), 0u);
  EXPECT_EQ(testing::StopProcess(listener), 0);
  EXPECT_NE(ReadFile(dir_ / "listen.log").find("less than --min-free-gib left"), std::string::npos) << ReadFile(dir_ / "listen.log");
}

// DCMTK opens the port only inside its serving loop, on the thread that runs it: Start() returns once
// the port accepts, so a PACS told to connect at once (fetch --port's C-MOVE; a study was once lost
// to a PACS that connected first, on a loaded machine) finds it open.
TEST_F(Listener, AStorageServerAcceptsConnectionsAsSoonAsStartReturns) {
  net::Inbox inbox(dir_ / "inbox");
  net::ServerSettings settings;
  settings.port = testing::FreePort();
  net::StorageServer server(settings, inbox);
  server.Start();
  const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(settings.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  ::close(probe);
  EXPECT_EQ(testing::Shell("echoscu -aec MEDPIPE 127.0.0.1 " + std::to_string(settings.port), dir_ / "echo.log").exit_code, 0);
  EXPECT_EQ(server.Failure(), "");
  EXPECT_THROW(net::StorageServer(settings, inbox), NetworkError) << "a port in use is refused before serving";
  server.Stop();
}

// Crafted association requests (CVE-2026-50254) leak about 210 KB each inside DCMTK 3.6.7: 3000 of
// them would take a receiver past 600 MiB. The receiving process is replaced past
// --max-receiver-gib, and the listener still receives and runs studies afterwards.
TEST_F(Listener, OutlivesAnAssociationRequestLeakFlood) {
  if (!fs::exists(kGeCt)) GTEST_SKIP() << kGeCt << " is absent (see ../shared/data/README.md)";
  const uint16_t port = testing::FreePort();
  const pid_t listener = testing::StartProcess({MEDPIPE_BINARY, "listen", "--out", (dir_ / "out").string(), "--port",
                                                std::to_string(port), "--quiet-seconds", "1", "--max-receiver-gib", "0.35"},
                                               dir_ / "listen.log");
  const auto answers_echo = [&] {
    return testing::Shell("echoscu -aec MEDPIPE 127.0.0.1 " + std::to_string(port), dir_ / "echo.log").exit_code == 0;
  };
  ASSERT_TRUE(testing::WaitFor(30, answers_echo)) << ReadFile(dir_ / "listen.log");
  const uint64_t listener_mib = testing::ResidentMib(listener);
  const auto flood = testing::Shell("/usr/bin/python3 " MEDPIPE_SOURCE_DIR "/tests/net/association_flood.py " + std::to_string(port) +
                                        " 3000 1500", dir_ / "flood.log");
  ASSERT_EQ(flood.exit_code, 0) << flood.output;
  const std::string log = ReadFile(dir_ / "listen.log");
  EXPECT_NE(log.find("over --max-receiver-gib"), std::string::npos) << log;
  EXPECT_LT(testing::ResidentMib(listener), listener_mib + 50) << "the listener itself does not grow (the flood leaks 600 MiB)";

  ASSERT_TRUE(testing::WaitFor(30, answers_echo)) << ReadFile(dir_ / "listen.log");
  const auto sent = testing::Shell("storescu -aec MEDPIPE +sd +r 127.0.0.1 " + std::to_string(port) + " " + kGeCt.string(), dir_ / "send.log");
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  EXPECT_TRUE(testing::WaitFor(60, [&] { return fs::exists(dir_ / "out" / "studies" / ShortId(kGeCtUid) / "result.json"); }))
      << ReadFile(dir_ / "listen.log");
  EXPECT_EQ(testing::StopProcess(listener), 0) << ReadFile(dir_ / "listen.log");
}

// Wrong peers, dates, AE titles and run options are refused at start, naming the option, before any connection.
TEST_F(NetOptions, BadPeersDatesTitlesAndRunOptionsAreRefusedAtStart) {
  const std::string out = (dir_ / "out").string();
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"fetch --pacs 127.0.0.1:99999 --aec PACS --study 1.2 --out " + out, 2, "--pacs/--aec: '99999' is not a port number"},
      {"fetch --pacs 127.0.0.1:104 --aec PACS --date 20260230 --out " + out, 2, "--date: '20260230' is not a date range"},
      {"fetch --pacs 127.0.0.1:104 --aec PACS --date 20260102-20260101 --out " + out, 2, "is not a date range"},
      {"fetch --pacs 127.0.0.1:104 --aec PACS --out " + out, 2, "say which studies"},
      {"fetch --pacs 127.0.0.1:104 --aec WAY_TOO_LONG_AE_TITLE --study 1.2 --out " + out, 2, "is not an AE title"},
      {"run " + out + " " + out + " --send 127.0.0.1:104", 2, "--send: '127.0.0.1:104' is not HOST:PORT:AET"},
      {"listen --out " + out + " --aet 'A\\B'", 2, "--aet: 'A\\B' is not an AE title"},
      // Options for the pipeline are checked by a dry run before the port is opened.
      {"listen --out " + out + " --device cpu --overlap 7", 2, "--overlap"},
  };
  for (const auto& one : cases) {
    const auto run = testing::Medpipe(one.args, dir_ / "log");
    EXPECT_EQ(run.exit_code, one.exit_code) << one.args << "\n" << run.output;
    EXPECT_NE(run.output.find(one.message), std::string::npos) << one.args << "\n" << run.output;
  }
}

}  // namespace
}  // namespace medpipe
