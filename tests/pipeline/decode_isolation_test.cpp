// Archive files are decoded in disposable processes (README: Isolation): a decoding process that dies,
// hangs or runs out of memory costs its series, never the worker that holds the models, and the worker
// reads archive files only to hash them.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "cli_support.h"
#include "image_support.h"
#include "inference/test_models.h"
#include "medpipe/dicom/archive_scanner.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/synth/synthetic_study.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;
using testing::ReadJson;

constexpr int kSmallStudies = 3;

// What became of each study: its status and its first series' error (empty when it loaded).
struct Outcome {
  std::string status, error;
  std::vector<std::string> paths;  // the first series' input files
};

class DecodeIsolation : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    testing::WriteSmallCtStudies(dir_ / "archive", kSmallStudies, "small", 300);
  }

  // A 512 x 512 x 100 JPEG 2000 CT: about 1.5 s to decode on this machine's 2 cores, 100 MiB as floats.
  void AddBigSeries() const {
    synth::VolumeSpec big;
    big.columns = big.rows = 512;
    big.slices = 100;
    big.encoding = synth::Encoding::Jpeg2000Lossless;
    synth::WriteSyntheticCt(dir_ / "archive" / "big", big, 400);
  }

  // A NIfTI study, which the worker reads itself (it is not DICOM).
  void AddNiftiStudy() const {
    const auto image = MakeImage({{16, 16, 8}}, testing::Spacing(1, 1, 1), testing::Point(0, 0, 0), testing::Identity());
    image->FillBuffer(40);
    fs::create_directories(dir_ / "archive" / "nifti");
    WriteNifti(Volume{{image}}, dir_ / "archive" / "nifti" / "volume.nii.gz");
  }

  testing::Run Run(const std::string& extra, const std::string& environment = "") const {
    return testing::Shell(environment + " " MEDPIPE_BINARY " run " + (dir_ / "archive").string() + " " +
                              (dir_ / "out").string() + " " + extra,
                          dir_ / "log");
  }

  // Study folder -> what became of it; every result.json is valid and no staging folder is left.
  std::map<std::string, Outcome> Outcomes() const {
    std::map<std::string, Outcome> outcomes;
    for (const auto& entry : fs::directory_iterator(dir_ / "out" / "studies")) {
      const std::string name = entry.path().filename().string();
      EXPECT_NE(name.front(), '.') << "staging left behind: " << name;
      if (name.front() == '.') continue;
      testing::ExpectValidResult(entry.path() / "result.json");
      const auto result = ReadJson(entry.path() / "result.json");
      const auto& series = result["series"].at(0);
      Outcome& outcome = outcomes[name];
      outcome.status = result["status"];
      outcome.error = series.value("error", "");
      if (series.contains("paths")) outcome.paths = series["paths"].get<std::vector<std::string>>();
    }
    return outcomes;
  }

  // Checks that the big series failed with an error saying REASON and naming its first file, and
  // that every other study is ok.
  void ExpectOnlyTheBigSeriesFailed(const std::string& reason) const {
    size_t ok = 0, failed = 0;
    for (const auto& [name, outcome] : Outcomes()) {
      const bool big = !outcome.paths.empty() && outcome.paths.front().find("/big/") != std::string::npos;
      if (!big) {
        EXPECT_EQ(outcome.status, "ok") << name << ": " << outcome.error;
        ++ok;
        continue;
      }
      ++failed;
      EXPECT_EQ(outcome.status, "failed");
      EXPECT_NE(outcome.error.find(reason), std::string::npos) << outcome.error;
      EXPECT_NE(outcome.error.find("/big/ct/slice_0"), std::string::npos) << "names no file: " << outcome.error;
    }
    EXPECT_EQ(ok, static_cast<size_t>(kSmallStudies));
    EXPECT_EQ(failed, 1u);
  }

  // How many times the log says a worker became ready (it loads the models each time).
  size_t WorkersStarted() const {
    const std::string log = ReadFile(dir_ / "log");
    size_t count = 0;
    for (size_t at = 0; (at = log.find(" ready\n", at)) != std::string::npos; ++at) ++count;
    return count;
  }
};

TEST_F(DecodeIsolation, ADecodingProcessThatDiesCostsItsSeriesNotTheWorker) {
  AddNiftiStudy();
  // The fail-point ends every decoding process before it answers, as a crash would.
  const auto run = Run("", "MEDPIPE_FAILPOINT=series_decoding");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  size_t failed = 0;
  for (const auto& [name, outcome] : Outcomes()) {
    if (outcome.paths.empty()) {  // the NIfTI study, read by the worker
      EXPECT_EQ(outcome.status, "ok") << outcome.error;
      continue;
    }
    ++failed;
    EXPECT_EQ(outcome.status, "failed");
    EXPECT_NE(outcome.error.find("the decoding process ended before it answered: exit code 86"), std::string::npos)
        << outcome.error;
    EXPECT_NE(outcome.error.find(outcome.paths.front()), std::string::npos) << "names no file: " << outcome.error;
  }
  EXPECT_EQ(failed, static_cast<size_t>(kSmallStudies));
  EXPECT_EQ(WorkersStarted(), 1u) << "the worker was replaced: " << run.output;
  EXPECT_EQ(ReadJson(dir_ / "out" / "status.json")["done"], 1);
  EXPECT_EQ(ReadJson(dir_ / "out" / "status.json")["failed"], kSmallStudies);
}

TEST_F(DecodeIsolation, ASeriesPastTheDecodeTimeoutFailsAloneAndTheBatchGoesOn) {
  AddBigSeries();
  const auto run = Run("--decode-timeout 0.3 --max-inflight 2");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ExpectOnlyTheBigSeriesFailed("took longer than 0.3 s (--decode-timeout); the decoding process was stopped");
  EXPECT_EQ(WorkersStarted(), 1u) << run.output;
  // Given the time, the same series decodes.
  const auto rerun = Run("--decode-timeout 600");
  EXPECT_EQ(rerun.exit_code, 0) << rerun.output;
  for (const auto& [name, outcome] : Outcomes()) EXPECT_EQ(outcome.status, "ok") << name << ": " << outcome.error;
}

TEST_F(DecodeIsolation, ASeriesOverTheDecodeMemoryLimitFailsAloneAndTheBatchGoesOn) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory rules out an address-space limit";
#endif
  AddBigSeries();
  // On one core the loader starts no threads, whose stacks and malloc arenas would count against
  // the address-space bound too; 0.05 GiB is half of what the big series' voxels need.
  const auto run = Run("--max-decode-gib 0.05", "taskset -c 0");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ExpectOnlyTheBigSeriesFailed("MiB of memory and cannot have it");
  EXPECT_EQ(WorkersStarted(), 1u) << run.output;
  EXPECT_EQ(Run("--max-decode-gib -1").exit_code, 2);
}

// Process id -> archive file (ending in .dcm under ARCHIVE) -> times that process opened it, from an
// A header-pass process that dies on a file (the fail-point `header_reading:<file name>` exits there)
// costs that file alone: it is reported with the reason, the files after it in the same process (the
// next studies') are read by a new one, and every study is indexed and runs on its other slices (the
// last slice is the one lost, so the stack has no gap).
TEST_F(DecodeIsolation, AHeaderPassThatDiesOnAFileCostsOnlyThatFile) {
  const auto run = Run("--threads 1", "MEDPIPE_FAILPOINT=header_reading:slice_0012.dcm");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto problems = testing::ReadJson(dir_ / "out" / "problems.json");
  size_t reported = 0;
  for (const auto& problem : problems) {
    EXPECT_NE(problem.dump().find("slice_0012.dcm"), std::string::npos) << problem.dump();
    EXPECT_NE(problem.dump().find("the header pass ended on this file: exit code 86"), std::string::npos) << problem.dump();
    ++reported;
  }
  EXPECT_EQ(reported, static_cast<size_t>(kSmallStudies)) << "one slice_0012.dcm per study";
  const auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), static_cast<size_t>(kSmallStudies));
  for (const auto& [study, outcome] : outcomes) {
    EXPECT_EQ(outcome.status, "ok") << study << ": " << outcome.error;
    EXPECT_EQ(outcome.paths.size(), 11u) << study << ": the other eleven slices were read";
  }
}

TEST_F(DecodeIsolation, DicomdirsAreReadInTheHeaderPassToo) {
  // archive/media: a DICOMDIR naming a 6-slice CT in media/DATA.
  const fs::path media = dir_ / "archive" / "media";
  ASSERT_TRUE(testing::WriteDicomdirMedium(media));
  // Given as the archive, the DICOMDIR brings its six files, named by the header-pass process.
  const auto through_dicomdir = testing::Shell(MEDPIPE_BINARY " run " + (media / "DICOMDIR").string() + " " + (dir_ / "out").string(), dir_ / "log");
  ASSERT_EQ(through_dicomdir.exit_code, 0) << through_dicomdir.output;
  const auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes.begin()->second.paths.size(), 6u);
  fs::remove_all(dir_ / "out");
  // A DICOMDIR whose reading kills the process costs that DICOMDIR alone.
  const auto run = Run("--threads 1", "MEDPIPE_FAILPOINT=header_reading:DICOMDIR");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto problems = testing::ReadJson(dir_ / "out" / "problems.json");
  ASSERT_EQ(problems.size(), 1u) << problems.dump(2);
  EXPECT_EQ(problems[0]["path"], (media / "DICOMDIR").string());
  EXPECT_NE(problems[0].dump().find("the header pass ended on this file: exit code 86"), std::string::npos) << problems.dump();
  size_t ok = 0;
  for (const auto& [study, outcome] : Outcomes()) ok += outcome.status == "ok";
  EXPECT_EQ(ok, static_cast<size_t>(kSmallStudies) + 1) << "the small studies and the media's CT";
}

// `strace -f -e trace=openat,clone,clone3` log, whose lines start with thread ids: the clone lines tell
// which thread belongs to which process.
std::map<std::string, std::map<std::string, int>> OpensByProcess(const fs::path& trace, const std::string& archive) {
  std::map<std::string, std::string> parent;  // thread id -> the thread that made it (threads only)
  std::map<std::string, std::string> unfinished;
  std::vector<std::pair<std::string, std::string>> opens;  // thread, file
  const std::regex line_start("^(\\d+) +(.*)$"), result(" = (\\d+)$"), open_call("^openat\\([^\"]*\"([^\"]+)\".* = \\d+$");
  std::ifstream lines(trace);
  std::smatch match;
  for (std::string line; std::getline(lines, line);) {
    if (!std::regex_match(line, match, line_start)) continue;
    const std::string tid = match[1];
    std::string call = match[2];
    if (call.find(" <unfinished ...>") != std::string::npos) {  // its end comes on a "<... resumed>" line
      unfinished[tid] = call.substr(0, call.find(" <unfinished ...>"));
      continue;
    }
    if (call.rfind("<... ", 0) == 0) call = unfinished[tid] + call.substr(call.find(" resumed>") + 9);
    if (call.rfind("clone", 0) == 0 && std::regex_search(call, match, result) &&
        call.find("CLONE_THREAD") != std::string::npos) {
      parent[match[1]] = tid;
    } else if (std::regex_match(call, match, open_call)) {
      const std::string file = match[1];
      if (file.rfind(archive, 0) == 0 && file.size() > 4 && file.substr(file.size() - 4) == ".dcm") opens.emplace_back(tid, file);
    }
  }
  std::map<std::string, std::map<std::string, int>> opened;
  for (const auto& [tid, file] : opens) {
    std::string process = tid;
    while (parent.count(process)) process = parent[process];
    ++opened[process][file];
  }
  return opened;
}

// The run process opens no archive file: a header-pass process reads the headers, decoding processes
// decode, and the worker (which holds the models) only hashes each archive file, once.
TEST_F(DecodeIsolation, NeitherTheRunNorTheWorkerParsesArchiveFiles) {
  if (!fs::exists("/usr/bin/strace")) GTEST_SKIP() << "strace is not installed (scripts/setup.sh installs it)";
  const fs::path trace = dir_ / "trace";
  // SEG and SR copy patient and study from the source header: the worker must take them from the
  // decoding process's re-encoded copy.
  testing::WritePackage(dir_ / "models" / "band", testing::LesionBandModel(), testing::SegmentationManifest("band", 2, 8));
  // LeakSanitizer cannot run under ptrace (scripts/sanitize.sh): leaks are checked by the other tests.
  const auto run = testing::Shell("ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -qq -e trace=openat,clone,clone3 -o " + trace.string() + " " MEDPIPE_BINARY " run " +
                                      (dir_ / "archive").string() + " " + (dir_ / "out").string() + " --model " +
                                      (dir_ / "models" / "band").string() + " --device cpu --output-types nifti,seg,sr",
                                  dir_ / "log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(run.output, match, std::regex("worker (\\d+) ready"))) << run.output;
  const std::string worker = match[1];
  auto opened = OpensByProcess(trace, (dir_ / "archive").string() + "/");
  const std::string run_process = ReadFile(trace).substr(0, ReadFile(trace).find(' '));  // strace's first line is its own child
  EXPECT_EQ(opened.count(run_process), 0u) << "the run process opened archive files";
  const size_t files = kSmallStudies * 12;
  ASSERT_EQ(opened[worker].size(), files) << "the worker hashes every archive file";
  for (const auto& [file, times] : opened[worker]) EXPECT_EQ(times, 1) << file << " opened again by the worker";
  size_t decoding_processes = 0;
  std::set<std::string> decoded;
  for (const auto& [process, files_opened] : opened) {
    if (process == worker || files_opened.size() == files) continue;  // the worker, and the header-pass process
    ++decoding_processes;
    for (const auto& [file, times] : files_opened) decoded.insert(file);
  }
  EXPECT_EQ(decoding_processes, static_cast<size_t>(kSmallStudies)) << "one disposable process per series";
  EXPECT_EQ(decoded.size(), files);
  size_t segs = 0, srs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "out" / "studies")) {
    segs += entry.path().filename().string().find("seg") != std::string::npos;
    srs += entry.path().filename() == "sr.dcm";
  }
  EXPECT_EQ(segs, static_cast<size_t>(kSmallStudies)) << "each study has a SEG, made from the re-encoded header";
  EXPECT_EQ(srs, static_cast<size_t>(kSmallStudies));
}

// The copy a decoding process hands over: the first file's header, uncompressed, without pixel data or
// values over 4 KiB, with patient and study as they were.
TEST(SourceHeader, KeepsPatientAndStudyAndDropsPixelsAndLongValues) {
  const fs::path dir = fs::temp_directory_path() / ("medpipe_source_header_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  synth::VolumeSpec spec;
  spec.columns = spec.rows = 32;
  spec.slices = 2;
  spec.encoding = synth::Encoding::Jpeg2000Lossless;
  const fs::path folder = synth::WriteSyntheticCt(dir, spec, 5);
  const fs::path first = folder / "slice_0001.dcm";
  {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(first.c_str()).good());
    ASSERT_TRUE(file.getDataset()->putAndInsertString(DCM_ImageComments, std::string(10000, 'x').c_str()).good());
    ASSERT_TRUE(file.getDataset()->putAndInsertString(DCM_StudyDescription, "kept").good());
    ASSERT_TRUE(file.saveFile(first.c_str(), EXS_JPEG2000LosslessOnly).good());
  }
  const auto index = dicom::BuildIndex(dicom::ScanArchive(dir));
  ASSERT_EQ(index.studies.size(), 1u);
  const dicom::Series& series = index.studies[0].series.at(0);
  const std::string header = dicom::ReencodeSourceHeader(series);
  EXPECT_LT(header.size(), 8192u);

  DcmInputBufferStream in;
  in.setBuffer(header.data(), static_cast<offile_off_t>(header.size()));
  in.setEos();
  DcmFileFormat copy;
  copy.transferInit();
  ASSERT_TRUE(copy.read(in).good());
  copy.transferEnd();
  DcmFileFormat original;
  ASSERT_TRUE(original.loadFile(series.files.front().path.c_str()).good());
  for (const DcmTagKey& tag : {DCM_PatientName, DCM_PatientID, DCM_StudyInstanceUID, DCM_StudyDescription,
                               DCM_FrameOfReferenceUID, DCM_SOPInstanceUID}) {
    OFString expected, got;
    original.getDataset()->findAndGetOFStringArray(tag, expected);
    EXPECT_TRUE(copy.getDataset()->findAndGetOFStringArray(tag, got).good()) << DcmTag(tag).getTagName();
    EXPECT_EQ(got, expected) << DcmTag(tag).getTagName();
  }
  EXPECT_FALSE(copy.getDataset()->tagExists(DCM_PixelData));
  EXPECT_FALSE(copy.getDataset()->tagExists(DCM_ImageComments)) << "a value over 4 KiB came along";
  OFString xfer;
  copy.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, xfer);
  EXPECT_EQ(xfer, UID_LittleEndianExplicitTransferSyntax);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace medpipe
