#pragma once
// The header pass over an archive: finds every file, reads DICOM headers, records what it skipped.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/dicom/file_header.h"
#include "medpipe/dicom/file_header_reader.h"

namespace medpipe::dicom {

// A file or folder that could not be used, and why.
struct PathProblem {
  std::string path;
  std::string reason;
};

struct ScanResult {
  std::vector<FileHeader> headers;      // readable DICOM image/object files
  std::vector<PathProblem> problems;    // unreadable files and folders, symlink loops, DICOMDIR gaps
  size_t files_seen = 0;
  size_t non_dicom_files = 0;           // skipped quietly unless their name claims to be DICOM
  std::vector<std::filesystem::path> nifti_files;  // .nii / .nii.gz: each one series of its own
};

// What the header pass makes of one file: its header (for a DICOMDIR, the files it names), or why it
// cannot be used, or that it is not DICOM.
struct HeaderOutcome {
  std::optional<FileHeader> header;
  std::vector<std::filesystem::path> references;  // a DICOMDIR's files
  std::optional<std::string> problem;
  bool non_dicom = false;  // skipped quietly: not DICOM and not named as DICOM
};
// The header pass over one file (a DICOMDIR by its name), in this process; never throws.
HeaderOutcome ReadHeaderOf(const std::filesystem::path& file, const HeaderLimits& limits);

// Reads the headers of FILES, one outcome per file in order (DICOMDIRs are read first, in a pass of their own).
using HeaderPass = std::function<std::vector<HeaderOutcome>(const std::vector<std::filesystem::path>& files, const HeaderLimits& limits)>;

struct ScanOptions {
  HeaderLimits limits;
  unsigned threads = 0;  // 0: one per hardware thread
  HeaderPass header_pass;  // empty: ReadHeaderOf on `threads` threads in this process
};

// Walks ROOT (a folder, a single file, or a DICOMDIR) recursively, following symlinks once.
ScanResult ScanArchive(const std::filesystem::path& root, const ScanOptions& options = {});

}  // namespace medpipe::dicom
