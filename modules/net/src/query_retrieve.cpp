#include "medpipe/net/query_retrieve.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <memory>

#include "medpipe/core/error.h"
#include "scu_session.h"

namespace medpipe::net {
namespace {

bool IsDay(const std::string& text) {
  if (text.size() != 8 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  const int year = std::stoi(text.substr(0, 4)), month = std::stoi(text.substr(4, 2)), day = std::stoi(text.substr(6, 2));
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap);
}

std::string Text(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  return item.findAndGetOFString(tag, value).good() ? value.c_str() : "";
}

// Study-root keys at STUDY level for one study.
DcmDataset StudyKeys(const std::string& study_uid) {
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  return keys;
}

// Owns the responses DCMTK hands back.
template <typename Response>
struct Responses {
  OFList<Response*> list;
  ~Responses() {
    for (auto* response : list) delete response;
  }
};

// The outcome a C-GET or C-MOVE's final response reports. Throws NetworkError when it failed
// outright (transient for "out of resources"), not when some of its objects did.
Retrieval Outcome(const ScuSession& session, OFList<RetrieveResponse*>& responses, const std::string& what) {
  if (responses.empty()) throw NetworkError(session.Remote().Describe(), what + " got no answer", true);
  const RetrieveResponse& last = *responses.back();
  Retrieval retrieval;
  retrieval.completed = last.m_numberOfCompletedSubops + last.m_numberOfWarningSubops;
  retrieval.failed = last.m_numberOfFailedSubops;
  if (!SucceededOrWarned(last.m_status) && retrieval.completed == 0)
    throw NetworkError(session.Remote().Describe(),
                       what + " failed (status " + StatusHex(last.m_status) +
                           ((last.m_status & 0xFF00) == 0xA800 ? ", the PACS does not know medpipe's AE title as a destination)" : ")"),
                       OutOfResources(last.m_status));
  return retrieval;
}

}  // namespace

std::string CheckDateRange(const std::string& option, const std::string& dates) {
  const auto dash = dates.find('-');
  const std::string first = dates.substr(0, dash), last = dash == std::string::npos ? first : dates.substr(dash + 1);
  if (!IsDay(first) || !IsDay(last) || last < first)
    throw ConfigError(option, "'" + dates + "' is not a date range YYYYMMDD or YYYYMMDD-YYYYMMDD (first day first)");
  return dates;
}

std::vector<FoundStudy> FindStudies(const Peer& peer, const NetSettings& settings, const StudyQuery& query) {
  std::vector<FoundStudy> studies;
  WithRetries(settings, "querying " + peer.Describe(), [&] {
    studies.clear();
    ScuSession session(peer, settings);
    session.Propose(UID_FINDStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
    session.Open();
    DcmDataset keys = StudyKeys(query.study_uid);
    keys.putAndInsertString(DCM_StudyDate, query.dates.c_str());
    keys.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");
    Responses<QRResponse> responses;
    session.Check(session.sendFINDRequest(session.Context(UID_FINDStudyRootQueryRetrieveInformationModel), &keys, &responses.list),
                  "C-FIND failed");
    for (auto* response : responses.list) {
      if (!response->m_dataset) continue;
      FoundStudy study{Text(*response->m_dataset, DCM_StudyInstanceUID), Text(*response->m_dataset, DCM_StudyDate)};
      Sint32 count = 0;
      if (response->m_dataset->findAndGetSint32(DCM_NumberOfStudyRelatedInstances, count).good()) study.instances = count;
      if (!study.uid.empty()) studies.push_back(study);
    }
    const Uint16 status = responses.list.empty() ? 0xFFFF : responses.list.back()->m_status;
    if (status != 0) throw NetworkError(peer.Describe(), "C-FIND ended with status " + StatusHex(status), OutOfResources(status));
  });
  return studies;
}

Retrieval GetStudy(const Peer& peer, const NetSettings& settings, const std::string& study_uid, Inbox& inbox) {
  Retrieval retrieval;
  WithRetries(settings, "C-GET of study " + study_uid + " from " + peer.Describe(), [&] {
    ScuSession session(peer, settings);
    session.Propose(UID_GETStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
    // Objects come back on this association: medpipe takes the SCP role for the storage classes.
    for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs; ++i)
      session.Propose(dcmLongSCUStorageSOPClassUIDs[i], UncompressedSyntaxes(), ASC_SC_ROLE_SCP);
    session.ReceiveInto(inbox);
    session.Open();
    DcmDataset keys = StudyKeys(study_uid);
    Responses<RetrieveResponse> responses;
    session.Check(session.sendCGETRequest(session.Context(UID_GETStudyRootQueryRetrieveInformationModel), &keys, &responses.list),
                  "C-GET failed");
    retrieval = Outcome(session, responses.list, "C-GET of study " + study_uid);
    // The PACS counts an object medpipe received but refused to store as sent.
    retrieval.reasons = session.StoreFailures();
    retrieval.completed -= std::min(retrieval.completed, retrieval.reasons.size());
    retrieval.failed += retrieval.reasons.size();
  });
  return retrieval;
}

Retrieval MoveStudy(const Peer& peer, const NetSettings& settings, const std::string& study_uid) {
  Retrieval retrieval;
  WithRetries(settings, "C-MOVE of study " + study_uid + " from " + peer.Describe(), [&] {
    ScuSession session(peer, settings);
    session.Propose(UID_MOVEStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
    session.Open();
    DcmDataset keys = StudyKeys(study_uid);
    Responses<RetrieveResponse> responses;
    session.Check(session.sendMOVERequest(session.Context(UID_MOVEStudyRootQueryRetrieveInformationModel), settings.own_aet.c_str(),
                                          &keys, &responses.list),
                  "C-MOVE failed");
    retrieval = Outcome(session, responses.list, "C-MOVE of study " + study_uid);
  });
  return retrieval;
}

}  // namespace medpipe::net
