#include "medpipe/net/send.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>

#include <algorithm>
#include <map>
#include <set>

#include "medpipe/core/error.h"
#include "scu_session.h"

namespace fs = std::filesystem;

namespace medpipe::net {
namespace {

// What a C-STORE needs to know of a file, from its meta header (medpipe's own Part 10 files).
struct StoredObject {
  std::string path;
  std::string sop_class_uid;
  std::string transfer_syntax_uid;
};

StoredObject ReadMetaHeader(const fs::path& path) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_metaOnly).bad())
    throw IoError(path.string(), "cannot be read as a DICOM file");
  OFString sop_class, syntax;
  file.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, sop_class);
  file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, syntax);
  if (sop_class.empty() || syntax.empty()) throw IoError(path.string(), "has no SOP class or transfer syntax in its meta header");
  return {path.string(), sop_class.c_str(), syntax.c_str()};
}

void SendOnce(const Peer& peer, const NetSettings& settings, const std::vector<StoredObject>& headers) {
  ScuSession session(peer, settings);
  session.setDatasetConversionMode(OFTrue);
  std::map<std::string, std::set<std::string>> syntaxes_by_class;
  for (const auto& header : headers) syntaxes_by_class[header.sop_class_uid].insert(header.transfer_syntax_uid);
  for (const auto& [sop_class, syntaxes] : syntaxes_by_class) {
    for (const auto& syntax : syntaxes)
      if (std::find(UncompressedSyntaxes().begin(), UncompressedSyntaxes().end(), syntax) == UncompressedSyntaxes().end())
        session.Propose(sop_class, {syntax});
    session.Propose(sop_class, UncompressedSyntaxes());
  }
  session.Open();
  for (const auto& header : headers) {
    T_ASC_PresentationContextID context = session.findPresentationContextID(header.sop_class_uid.c_str(), header.transfer_syntax_uid.c_str());
    if (context == 0) context = session.Context(header.sop_class_uid);
    Uint16 status = 0;
    session.Check(session.sendSTORERequest(context, header.path.c_str(), nullptr, status), "C-STORE of " + header.path + " failed");
    // Not stored: out of resources (A7xx) is worth trying again later, anything else is a refusal.
    if (!SucceededOrWarned(status))
      throw NetworkError(peer.Describe(), "refused to store " + header.path + " (C-STORE status " + StatusHex(status) + ")",
                         OutOfResources(status));
  }
}

}  // namespace

void SendFiles(const Peer& peer, const NetSettings& settings, const std::vector<fs::path>& files) {
  std::vector<StoredObject> headers;
  for (const auto& file : files) headers.push_back(ReadMetaHeader(file));
  if (headers.empty()) return;
  WithRetries(settings, "sending " + std::to_string(files.size()) + " files to " + peer.Describe(),
              [&] { SendOnce(peer, settings, headers); });
}

}  // namespace medpipe::net
