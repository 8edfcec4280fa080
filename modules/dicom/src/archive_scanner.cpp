#include "medpipe/dicom/archive_scanner.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "dicom_text.h"
#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"
#include "medpipe/core/parallel_for.h"

namespace medpipe::dicom {
namespace fs = std::filesystem;
namespace {

bool IsDicomdir(const fs::path& path) { return Lower(path.filename().string()) == "dicomdir"; }

// Files whose extension claims DICOM deserve a reported reason when they are not.
bool NameClaimsDicom(const fs::path& path) {
  const std::string ext = Lower(path.extension().string());
  return ext == ".dcm" || ext == ".dicom" || ext == ".dic" || ext == ".ima";
}

bool NameClaimsNifti(const fs::path& path) {
  const std::string name = Lower(path.filename().string());
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".nii") || ends_with(".nii.gz");
}

struct Walker {
  std::vector<fs::path> files;
  std::vector<fs::path> dicomdirs;
  std::vector<PathProblem> problems;
  std::set<std::pair<dev_t, ino_t>> visited;

  void Walk(const fs::path& dir) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      problems.push_back({dir.string(), "cannot stat folder"});
      return;
    }
    if (!visited.insert({st.st_dev, st.st_ino}).second) {
      problems.push_back({dir.string(), "symlink loop: folder already visited, not descended again"});
      return;
    }
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      problems.push_back({dir.string(), "unreadable folder: " + ec.message()});
      return;
    }
    std::vector<fs::path> entries;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      entries.push_back(it->path());
    }
    if (ec) problems.push_back({dir.string(), "folder listing stopped: " + ec.message()});
    std::sort(entries.begin(), entries.end());
    for (const auto& entry : entries) {
      std::error_code type_ec;
      const auto status = fs::status(entry, type_ec);  // follows symlinks
      if (type_ec) {
        problems.push_back({entry.string(), "broken link or unreadable entry: " + type_ec.message()});
      } else if (fs::is_directory(status)) {
        Walk(entry);
      } else if (fs::is_regular_file(status)) {
        (IsDicomdir(entry) ? dicomdirs : files).push_back(entry);
      }
    }
  }
};

// DICOMDIR file IDs are upper case on media; match them case-insensitively to what is on disk.
bool ExistsIgnoringCase(const fs::path& path, const std::set<std::string>& known_lower) {
  return fs::exists(path) || known_lower.count(Lower(path.lexically_normal().string())) > 0;
}

}  // namespace

HeaderOutcome ReadHeaderOf(const fs::path& file, const HeaderLimits& limits) {
  HeaderOutcome outcome;
  const std::string path = file.string();
  try {
    if (IsDicomdir(file)) {
      outcome.references = ReadDicomdirReferences(path, limits);
    } else if (!LooksLikeDicom(path) && !NameClaimsDicom(file)) {
      outcome.non_dicom = true;
    } else {
      outcome.header = ReadFileHeader(path, limits);
    }
  } catch (const Error& error) {
    outcome.problem = error.Reason();
  } catch (const std::exception& error) {
    outcome.problem = std::string("header could not be read: ") + error.what();
  }
  return outcome;
}

ScanResult ScanArchive(const fs::path& root, const ScanOptions& options) {
  Walker walker;
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    walker.Walk(root);
  } else if (fs::is_regular_file(root, ec)) {
    (IsDicomdir(root) ? walker.dicomdirs : walker.files).push_back(root);
  } else {
    throw IoError(root.string(), "not a readable file or folder");
  }

  const auto read_headers = [&options](const std::vector<fs::path>& files) {
    if (options.header_pass) return options.header_pass(files, options.limits);
    std::vector<HeaderOutcome> outcomes(files.size());
    ParallelFor(files.size(), options.threads ? options.threads : UsableCores(),
                [&](size_t i) { outcomes[i] = ReadHeaderOf(files[i], options.limits); });
    return outcomes;
  };

  ScanResult result;
  result.problems = std::move(walker.problems);
  std::set<std::string> known_lower;
  for (const auto& file : walker.files) known_lower.insert(Lower(file.lexically_normal().string()));
  const auto dicomdir_outcomes = read_headers(walker.dicomdirs);
  for (size_t i = 0; i < walker.dicomdirs.size(); ++i) {
    const fs::path& dicomdir = walker.dicomdirs[i];
    if (dicomdir_outcomes[i].problem) result.problems.push_back({dicomdir.string(), *dicomdir_outcomes[i].problem});
    for (const auto& reference : dicomdir_outcomes[i].references) {
      if (!ExistsIgnoringCase(reference, known_lower)) {
        result.problems.push_back({reference.string(), "referenced by DICOMDIR " + dicomdir.string() + " but missing"});
      } else if (!fs::is_directory(root) && known_lower.insert(Lower(reference.lexically_normal().string())).second) {
        walker.files.push_back(reference);  // a DICOMDIR given as root brings its files
      }
    }
  }

  result.files_seen = walker.files.size() + walker.dicomdirs.size();
  for (const auto& file : walker.files)
    if (NameClaimsNifti(file)) result.nifti_files.push_back(file);
  walker.files.erase(std::remove_if(walker.files.begin(), walker.files.end(), NameClaimsNifti), walker.files.end());
  const auto outcomes = read_headers(walker.files);
  for (size_t i = 0; i < walker.files.size(); ++i) {
    if (outcomes[i].header) result.headers.push_back(std::move(*outcomes[i].header));
    if (outcomes[i].problem) result.problems.push_back({walker.files[i].string(), std::move(*outcomes[i].problem)});
    result.non_dicom_files += outcomes[i].non_dicom;
  }
  return result;
}

}  // namespace medpipe::dicom
