#include "scu_session.h"

#include <iomanip>
#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"

namespace medpipe::net {

std::string StatusHex(Uint16 status) {
  std::ostringstream text;
  text << "0x" << std::hex << std::setw(4) << std::setfill('0') << status;
  return text.str();
}

const std::vector<std::string>& UncompressedSyntaxes() {
  static const std::vector<std::string> syntaxes = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
  return syntaxes;
}

ScuSession::ScuSession(const Peer& peer, const NetSettings& settings) : peer_(peer) {
  setAETitle(settings.own_aet.c_str());
  setPeerHostName(peer.host.c_str());
  setPeerPort(peer.port);
  setPeerAETitle(peer.aet.c_str());
  const auto timeout = static_cast<Uint32>(std::max(1.0, settings.timeout_s));
  setConnectionTimeout(static_cast<Sint32>(timeout));
  setACSETimeout(timeout);
  setDIMSETimeout(timeout);
  setDIMSEBlockingMode(DIMSE_NONBLOCKING);  // a peer that stops answering times out instead of hanging
  setStorageMode(DCMSCU_STORAGE_BIT_PRESERVING);  // a retrieved object streams to disk
}

ScuSession::~ScuSession() {
  if (isConnected()) releaseAssociation();
}

void ScuSession::Propose(const std::string& abstract_syntax, const std::vector<std::string>& transfer_syntaxes,
                         T_ASC_SC_ROLE role) {
  OFList<OFString> syntaxes;
  for (const auto& syntax : transfer_syntaxes) syntaxes.push_back(syntax.c_str());
  Check(addPresentationContext(abstract_syntax.c_str(), syntaxes, role), "cannot propose " + abstract_syntax);
}

void ScuSession::Open() {
  Check(initNetwork(), "cannot set up the network");
  const OFCondition negotiated = negotiateAssociation();
  if (negotiated == DUL_ASSOCIATIONREJECTED || negotiated == NET_EC_NoAcceptablePresentationContexts)
    throw NetworkError(peer_.Describe(), std::string("refused the association (") + negotiated.text() +
                                             "): check its AE title and that it knows medpipe's AE title",
                       false);
  Check(negotiated, "cannot open an association");
}

T_ASC_PresentationContextID ScuSession::Context(const std::string& abstract_syntax, const std::string& transfer_syntax) {
  const T_ASC_PresentationContextID id = transfer_syntax.empty()
                                             ? findAnyPresentationContextID(abstract_syntax.c_str(), "")
                                             : findPresentationContextID(abstract_syntax.c_str(), transfer_syntax.c_str());
  if (id == 0)
    throw NetworkError(peer_.Describe(), "accepted no presentation context for " + abstract_syntax +
                                             (transfer_syntax.empty() ? "" : " in " + transfer_syntax),
                       false);
  return id;
}

void ScuSession::Check(const OFCondition& condition, const std::string& what) const {
  if (condition.bad()) throw NetworkError(peer_.Describe(), what + ": " + condition.text(), true);
}

OFCondition ScuSession::handleSTORERequestFile(T_ASC_PresentationContextID* presID, const OFString& /*filename*/,
                                               T_DIMSE_C_StoreRQ* request) {
  if (!inbox_) return DIMSE_NULLKEY;
  const auto partial = inbox_->PartialFile();
  const OFCondition received = DcmSCU::handleSTORERequestFile(presID, partial.c_str(), request);
  if (received.bad()) {
    std::filesystem::remove(partial);
    store_failures_.push_back(std::string("receiving failed: ") + received.text());
    return received;
  }
  try {
    inbox_->Accept(partial);
  } catch (const Error& error) {
    store_failures_.push_back(error.what());
    Log(LogLevel::Warning, peer_.Describe() + " sent an object medpipe does not store: " + error.what());
    return DIMSE_NULLKEY;
  }
  return EC_Normal;
}

}  // namespace medpipe::net
