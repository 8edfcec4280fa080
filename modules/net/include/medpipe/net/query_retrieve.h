#pragma once
// Query/retrieve SCU (study root): C-FIND lists a PACS's studies by UID or date range, C-GET or
// C-MOVE brings one study into an Inbox.
#include <string>
#include <vector>

#include "medpipe/net/inbox.h"
#include "medpipe/net/peer.h"

namespace medpipe::net {

// Exactly one of the two: a StudyInstanceUID, or a StudyDate range "YYYYMMDD" or "YYYYMMDD-YYYYMMDD".
struct StudyQuery {
  std::string study_uid;
  std::string dates;
};
// Checks DATES as StudyQuery wants it (real calendar days, first <= last); throws ConfigError naming OPTION.
std::string CheckDateRange(const std::string& option, const std::string& dates);

struct FoundStudy {
  std::string uid;
  std::string date;  // StudyDate as the PACS has it
  int instances = -1;  // NumberOfStudyRelatedInstances; -1 when the PACS does not say
};
// C-FIND at STUDY level; throws NetworkError.
std::vector<FoundStudy> FindStudies(const Peer& peer, const NetSettings& settings, const StudyQuery& query);

struct Retrieval {
  size_t completed = 0;  // objects the PACS reports as sent
  size_t failed = 0;     // objects it could not send (or medpipe did not store)
  std::vector<std::string> reasons;  // why, for the objects medpipe refused
};
// C-GET of study STUDY_UID: the objects arrive on the same association and go into INBOX. Retried
// with backoff as a whole (objects already in the inbox are not stored twice). Throws NetworkError
// when nothing could be retrieved.
Retrieval GetStudy(const Peer& peer, const NetSettings& settings, const std::string& study_uid, Inbox& inbox);
// C-MOVE of study STUDY_UID to SETTINGS.own_aet: the PACS must know that AE title's host and port,
// where a StorageServer of medpipe's must be listening. Retried and reported like GetStudy.
Retrieval MoveStudy(const Peer& peer, const NetSettings& settings, const std::string& study_uid);

}  // namespace medpipe::net
