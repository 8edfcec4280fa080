#pragma once
// Pieces several test suites share: a scratch folder per test and DICOM pixel-module tags.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "medpipe/synth/synthetic_study.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace medpipe::testing {

// A fresh folder for each test, named after it, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("medpipe_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

// Starts COMMAND's words as a child process, its output in LOG; returns its pid. The child is killed
// when the test process dies, so a test that crashes leaves nothing running.
inline pid_t StartProcess(const std::vector<std::string>& command, const std::filesystem::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& word : command) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// MEDIUM/DICOMDIR, made by DCMTK's dcmmkdir, naming a 6-slice synthetic CT it copies to MEDIUM/DATA
// (file IDs are at most 8 upper-case characters per component). False when dcmmkdir failed.
inline bool WriteDicomdirMedium(const std::filesystem::path& medium) {
  const auto written = synth::WriteSyntheticCt(medium.string() + "-synth", synth::VolumeSpec{16, 16, 6}, 7);
  std::filesystem::create_directories(medium / "DATA");
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(written))
    std::filesystem::copy_file(entry.path(), medium / "DATA" / ("IM" + std::to_string(++n)));
  std::filesystem::remove_all(medium.string() + "-synth");
  const std::string command = "cd '" + medium.string() + "' && dcmmkdir --recurse +I DATA > /dev/null 2>&1";
  return std::system(command.c_str()) == 0 && std::filesystem::exists(medium / "DICOMDIR");
}

// RESULT (a result.json) is valid against docs/result-schema.json (checked with python3-jsonschema).
inline void ExpectValidResult(const std::filesystem::path& result) {
  const std::string command = "/usr/bin/python3 -c 'import json, sys, jsonschema; "
                              "jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' " +
                              result.string() + " " MEDPIPE_SOURCE_DIR "/docs/result-schema.json";
  EXPECT_EQ(std::system(command.c_str()), 0) << result << " does not match docs/result-schema.json";
}

// SOP class, study, a new series and instance UID, and modality: enough to be indexed.
inline void PutIdentity(DcmDataset& dataset, const char* sop_class_uid, const char* study_uid, const char* modality) {
  char uid[100];
  dataset.putAndInsertString(DCM_SOPClassUID, sop_class_uid);
  dataset.putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid));
  dataset.putAndInsertString(DCM_StudyInstanceUID, study_uid);
  dataset.putAndInsertString(DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid));
  dataset.putAndInsertString(DCM_Modality, modality);
}

// Image Pixel module for unsigned samples stored in the low BITS_STORED bits.
inline void PutPixelModule(DcmDataset& dataset, Uint16 rows, Uint16 columns, Uint16 samples, Uint16 bits_allocated,
                           Uint16 bits_stored, const char* photometric) {
  dataset.putAndInsertUint16(DCM_Rows, rows);
  dataset.putAndInsertUint16(DCM_Columns, columns);
  dataset.putAndInsertUint16(DCM_SamplesPerPixel, samples);
  dataset.putAndInsertString(DCM_PhotometricInterpretation, photometric);
  dataset.putAndInsertUint16(DCM_BitsAllocated, bits_allocated);
  dataset.putAndInsertUint16(DCM_BitsStored, bits_stored);
  dataset.putAndInsertUint16(DCM_HighBit, bits_stored - 1);
  dataset.putAndInsertUint16(DCM_PixelRepresentation, 0);
}

}  // namespace medpipe::testing
