#include "medpipe/review/verified_sr.h"

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcvrlo.h>
#include <dcmtk/dcmdata/dcvrpn.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cctype>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace fs = std::filesystem;

namespace medpipe::review {
namespace {

void Require(const OFCondition& status, const fs::path& source, const std::string& what) {
  if (status.bad()) throw DicomError(source.string(), what + ": " + status.text());
}

}  // namespace

std::string DicomDateTime(const std::string& time) {
  // 2026-12-07T15:21:02Z
  static constexpr char kPattern[] = "dddd-dd-ddTdd:dd:ddZ";
  if (time.size() != sizeof kPattern - 1) return "";
  std::string digits;
  for (size_t i = 0; i < time.size(); ++i) {
    if (kPattern[i] == 'd') {
      if (!std::isdigit(static_cast<unsigned char>(time[i]))) return "";
      digits += time[i];
    } else if (time[i] != kPattern[i]) {
      return "";
    }
  }
  return digits + "+0000";
}

void WriteVerifiedSr(const fs::path& source, const fs::path& target, const std::string& observer,
                     const std::string& organization, const std::string& date_time) {
  DcmFileFormat file;
  Require(file.loadFile(source.c_str()), source, "cannot be read");
  DSRDocument document;
  Require(document.read(*file.getDataset()), source, "is not an SR document dcmsr reads");
  if (document.getCompletionFlag() != DSRTypes::CF_Complete) Require(document.completeDocument(), source, "cannot be completed");
  const std::string by = "cannot be verified by '" + observer + "' of '" + organization + "'";
  Require(DcmPersonName::checkStringValue(observer.c_str(), "1"), source, by);
  Require(DcmLongString::checkStringValue(organization.c_str(), "1"), source, by);
  // DCMTK 3.6.7's DT check refuses the UTC offset +0000; DicomDateTime() made it in that one form.
  Require(document.verifyDocument(observer.c_str(), organization.c_str(), date_time.c_str(), OFFalse), source, by);
  document.createNewSOPInstance();

  DcmFileFormat verified;
  Require(document.write(*verified.getDataset()), source, "cannot be written as verified");
  const fs::path staging = target.parent_path() / ("." + target.filename().string() + ".partial");
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) throw IoError(target.parent_path().string(), "cannot create folder: " + ec.message());
  const OFCondition saved = verified.saveFile(staging.c_str(), EXS_LittleEndianExplicit);
  if (saved.bad()) throw IoError(target.string(), std::string("cannot be written: ") + saved.text());
  SyncToDisk(staging);
  fs::rename(staging, target, ec);
  if (ec) throw IoError(target.string(), "cannot be put in place: " + ec.message());
  SyncToDisk(target.parent_path());
}

}  // namespace medpipe::review
