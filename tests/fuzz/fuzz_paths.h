#pragma once
// The code paths the fuzz targets drive, shared with the test that replays the inputs they found
// (tests/dicom/fuzz_regressions_test.cpp). The code under test reads paths, so inputs become files.
#include <dcmtk/oflog/oflog.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/core/json_text.h"
#include "medpipe/dicom/file_header_reader.h"
#include "medpipe/dicom/index_json.h"
#include "medpipe/dicom/pixel_decoder.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::fuzz {

enum class Target { Header, Index, Decode };

// fuzz_index inputs are archives: their files joined by this line, at most kMaxArchiveFiles of them.
inline constexpr std::string_view kFileSeparator = "\n--medpipe-fuzz-next-file--\n";
inline constexpr size_t kMaxArchiveFiles = 16;

// Decoding allocates what the header declares; lower than the default so that one input costs
// milliseconds and stays far below libFuzzer's 2 GB, yet above every seed image.
inline const dicom::HeaderLimits kDecodeLimits{uint64_t{16} << 20, 100000};

// Set up once per process: DCMTK as quiet as `medpipe` keeps it (pipeline/cli/main.cpp), or its warnings
// flood the fuzzer's output, and a scratch folder under TMPDIR, removed at a normal exit.
// scripts/fuzz.sh points TMPDIR at tmpfs and removes what crashed processes leave there.
class Session {
 public:
  Session() {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    std::string name = (std::filesystem::temp_directory_path() / "medpipe-fuzz-XXXXXX").string();
    if (!mkdtemp(name.data())) throw std::runtime_error("cannot create the scratch folder " + name);
    scratch_ = name;
  }
  ~Session() {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_, ignored);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  const std::filesystem::path& Scratch() const { return scratch_; }

 private:
  std::filesystem::path scratch_;
};

inline void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// INPUT's parts, split at kFileSeparator, become the files 0, 1, ... of a fresh folder ARCHIVE.
inline void WriteArchive(std::string_view input, const std::filesystem::path& archive) {
  std::filesystem::remove_all(archive);
  std::filesystem::create_directory(archive);
  for (size_t part = 0, begin = 0; begin <= input.size() && part < kMaxArchiveFiles; ++part) {
    const size_t end = std::min(input.find(kFileSeparator, begin), input.size());
    WriteFile(archive / std::to_string(part), input.substr(begin, end - begin));
    begin = end + kFileSeparator.size();
  }
}

// Every slice must name a file and frame of its series; .at() throws, and so fails the run, if not.
inline void TouchSlices(const dicom::ArchiveIndex& index) {
  for (const auto& study : index.studies) {
    for (const auto& series : study.series) {
      for (const auto& slice : series.slices) (void)series.files.at(slice.file).frames.at(slice.frame);
    }
  }
}

inline void DecodeFile(const std::string& path) {
  const dicom::FileHeader header = dicom::ReadFileHeader(path, kDecodeLimits);
  if (!header.has_pixel_data) return;
  std::vector<float> samples(dicom::DecodedSamples(header));
  dicom::DecodePixels(header, samples.data());
}

// Runs INPUT through TARGET's path. DicomError, the documented rejection, propagates to the caller;
// so does any other exception, which is a bug.
inline void RunInput(Target target, std::string_view input) {
  static const Session session;
  const std::string file = (session.Scratch() / "input.dcm").string();
  switch (target) {
    case Target::Header:
      WriteFile(file, input);
      dicom::ReadFileHeader(file);
      break;
    case Target::Index: {
      WriteArchive(input, session.Scratch() / "archive");
      dicom::ScanOptions options;
      options.threads = 1;  // libFuzzer measures one input at a time; threads only add noise
      const dicom::ArchiveIndex index = dicom::BuildIndex(dicom::ScanArchive(session.Scratch() / "archive", options));
      TouchSlices(index);
      (void)JsonText(dicom::IndexToJson(index));  // as `medpipe scan` prints it
      break;
    }
    case Target::Decode:
      WriteFile(file, input);
      DecodeFile(file);
      break;
  }
}

// A fuzz target's whole body: a DicomError is a correct rejection; anything else ends the run.
inline int Fuzz(Target target, const uint8_t* data, size_t size) {
  try {
    RunInput(target, {reinterpret_cast<const char*>(data), size});
  } catch (const DicomError&) {
  }
  return 0;
}

}  // namespace medpipe::fuzz
