#pragma once
// One association from medpipe to a peer, over DCMTK's DcmSCU: the peer, AE titles and timeouts from
// NetSettings, and every failure as a NetworkError that names the peer and says what went wrong.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/scu.h>

#include <string>
#include <vector>

#include "medpipe/net/inbox.h"
#include "medpipe/net/peer.h"

namespace medpipe::net {

// A DIMSE status as DICOM writes it, e.g. 0xa700.
std::string StatusHex(Uint16 status);
// 0000 success or Bxxx warning (done, possibly with coerced or partly failed parts).
inline bool SucceededOrWarned(Uint16 status) { return status == 0 || (status & 0xF000) == 0xB000; }
// A7xx: the peer is out of resources, which trying again later may cure.
inline bool OutOfResources(Uint16 status) { return (status & 0xFF00) == 0xA700; }

// Transfer syntaxes every peer must accept: explicit and implicit VR little endian.
const std::vector<std::string>& UncompressedSyntaxes();

class ScuSession : public DcmSCU {
 public:
  ScuSession(const Peer& peer, const NetSettings& settings);
  ~ScuSession() override;  // releases the association (aborts it when a request is cut short)

  // Before Open: propose ABSTRACT_SYNTAX in TRANSFER_SYNTAXES. ASC_SC_ROLE_SCP for the storage
  // classes a C-GET retrieves.
  void Propose(const std::string& abstract_syntax, const std::vector<std::string>& transfer_syntaxes,
               T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT);
  // Connects and negotiates; throws NetworkError (transient unless the peer rejected the association).
  void Open();
  // The accepted context for ABSTRACT_SYNTAX (in TRANSFER_SYNTAX when given); throws NetworkError.
  T_ASC_PresentationContextID Context(const std::string& abstract_syntax, const std::string& transfer_syntax = "");
  // Throws a transient NetworkError "WHAT: <DCMTK's reason>" when CONDITION is bad.
  void Check(const OFCondition& condition, const std::string& what) const;
  // Objects that a C-GET brings on this association are filed into INBOX.
  void ReceiveInto(Inbox& inbox) { inbox_ = &inbox; }
  // Objects a C-GET brought that could not be stored, with the reasons.
  const std::vector<std::string>& StoreFailures() const { return store_failures_; }
  const Peer& Remote() const { return peer_; }

 protected:
  // DcmSCU names the file after the SOP Instance UID the peer sent (a path traversal in DCMTK
  // 3.6.7, CVE-2026-50003); the object goes to a fresh partial file of the inbox instead.
  OFCondition handleSTORERequestFile(T_ASC_PresentationContextID* presID, const OFString& filename,
                                     T_DIMSE_C_StoreRQ* request) override;

 private:
  Peer peer_;
  Inbox* inbox_ = nullptr;
  std::vector<std::string> store_failures_;
};

}  // namespace medpipe::net
