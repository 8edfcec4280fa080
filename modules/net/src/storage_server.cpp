#include "medpipe/net/storage_server.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scppool.h>
#include <dcmtk/dcmnet/scpthrd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"
#include "medpipe/dicom/pixel_decoder.h"

namespace medpipe::net {
namespace {

uint64_t FreeBytes(const std::filesystem::path& folder) {
  std::error_code ec;
  const auto space = std::filesystem::space(folder, ec);
  return ec ? 0 : space.available;
}

std::string Trimmed(const OFString& text) {
  std::string value = text.c_str();
  value.erase(value.find_last_not_of(' ') + 1);
  value.erase(0, value.find_first_not_of(' '));
  return value;
}

// One association: C-ECHO as DCMTK answers it, C-STORE into the inbox. Callers and the called AE
// title are checked before anything is received.
class StoreScp : public DcmThreadSCP {
 public:
  StoreScp(Inbox& inbox, const ServerSettings& settings) : inbox_(inbox), settings_(settings) {}

 protected:
  OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& context) override {
    if (message->CommandField != DIMSE_C_STORE_RQ) return DcmThreadSCP::handleIncomingCommand(message, context);
    T_DIMSE_C_StoreRQ& request = message->msg.CStoreRQ;
    T_ASC_PresentationContextID id = context.presentationContextID;
    if (FreeBytes(inbox_.Root()) < settings_.min_free_bytes) {  // the dataset is read off the wire, then refused
      const OFCondition drained = receiveSTORERequest(request, id, "/dev/null");
      if (drained.bad()) return drained;
      Log(LogLevel::Error, "refused an object from " + std::string(getPeerAETitle().c_str()) + ": less than --min-free-gib left on " +
                               inbox_.Root().string());
      return sendSTOREResponse(id, request, STATUS_STORE_Refused_OutOfResources);
    }
    const auto partial = inbox_.PartialFile();
    const OFCondition received = receiveSTORERequest(request, id, partial.c_str());
    if (received.bad()) {  // the association broke off mid-object: nothing is kept
      std::filesystem::remove(partial);
      Log(LogLevel::Warning, "receiving " + std::string(request.AffectedSOPInstanceUID) + " from " + getPeerAETitle().c_str() +
                                 " failed, nothing stored: " + received.text());
      return received;
    }
    Uint16 status = STATUS_Success;
    const std::string object = "object " + std::string(request.AffectedSOPInstanceUID) + " from " + getPeerAETitle().c_str();
    try {
      inbox_.Accept(partial);
    } catch (const DicomError& error) {
      status = STATUS_STORE_Error_CannotUnderstand;
      Log(LogLevel::Warning, "refused " + object + ": " + error.Reason());
    } catch (const Error& error) {
      status = STATUS_STORE_Refused_OutOfResources;
      Log(LogLevel::Error, "cannot store " + object + ": " + error.what());
    }
    return sendSTOREResponse(id, request, status);
  }

  OFBool checkCalledAETitleAccepted(const OFString& called) override { return Trimmed(called) == settings_.aet; }

  OFBool checkCallingAETitleAccepted(const OFString& calling) override {
    const bool accepted = settings_.allowed_callers.empty() || settings_.allowed_callers.count(Trimmed(calling));
    if (!accepted) Log(LogLevel::Warning, "refused an association from AE title '" + Trimmed(calling) + "' (not in --allow-aet)");
    return accepted;
  }

 private:
  Inbox& inbox_;
  const ServerSettings& settings_;
};

class Worker : public DcmBaseSCPPool::DcmBaseSCPWorker, private StoreScp {
 public:
  Worker(DcmBaseSCPPool& pool, Inbox& inbox, const ServerSettings& settings) : DcmBaseSCPWorker(pool), StoreScp(inbox, settings) {}
  OFCondition setSharedConfig(const DcmSharedSCPConfig& config) override { return StoreScp::setSharedConfig(config); }
  OFBool busy() override { return StoreScp::isConnected(); }

 protected:
  OFCondition workerListen(T_ASC_Association* const association) override { return StoreScp::run(association); }
};

sockaddr_in AddressOf(uint32_t host, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(host);
  return address;
}

// DCMTK opens the port inside listen(); trying it first turns "in use" into an error at start.
void CheckPortFree(uint16_t port) {
  const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int reuse = 1;
  ::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
  const sockaddr_in address = AddressOf(INADDR_ANY, port);
  const bool bound = ::bind(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  const int error = errno;
  ::close(probe);
  if (!bound) throw NetworkError("port " + std::to_string(port), std::string("cannot listen: ") + std::strerror(error), false);
}

}  // namespace

class StorageServer::Pool : public DcmBaseSCPPool {
 public:
  Pool(const ServerSettings& settings, Inbox& inbox) : settings_(settings), inbox_(inbox) {}

 protected:
  DcmBaseSCPWorker* createSCPWorker() override { return new Worker(*this, inbox_, settings_); }

 private:
  ServerSettings settings_;
  Inbox& inbox_;
};

StorageServer::StorageServer(const ServerSettings& settings, Inbox& inbox)
    : pool_(std::make_unique<Pool>(settings, inbox)), timeout_s_(settings.timeout_s) {
  CheckPortFree(settings.port);
  DcmSCPConfig& config = pool_->getConfig();
  config.setPort(settings.port);
  config.setAETitle(settings.aet.c_str());
  config.setRespondWithCalledAETitle(OFFalse);
  const auto timeout = static_cast<Uint32>(std::max(1.0, settings.timeout_s));
  config.setACSETimeout(timeout);
  config.setDIMSETimeout(timeout);
  config.setDIMSEBlockingMode(DIMSE_NONBLOCKING);  // a sender that stops mid-object times out
  config.setConnectionBlockingMode(DUL_NOBLOCK);   // wake up every second to notice Stop()
  config.setConnectionTimeout(1);
  OFList<OFString> syntaxes;
  for (const auto& syntax : dicom::ReadableTransferSyntaxes()) syntaxes.push_back(syntax.c_str());
  config.addPresentationContext(UID_VerificationSOPClass, syntaxes);
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) config.addPresentationContext(dcmAllStorageSOPClassUIDs[i], syntaxes);
  pool_->setMaxThreads(static_cast<Uint16>(std::max(1u, settings.max_associations)));
}

StorageServer::~StorageServer() { Stop(); }

void StorageServer::Start() {
  thread_ = std::thread([this] {
    const OFCondition ended = pool_->listen();
    failure_ = ended.bad() ? ended.text() : "serving ended";
    ended_ = true;
  });
  const uint16_t port = pool_->getConfig().getPort();
  const sockaddr_in address = AddressOf(INADDR_LOOPBACK, port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
  while (true) {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool accepted = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (accepted) return;
    if (ended_ || std::chrono::steady_clock::now() > deadline) {
      const std::string why = ended_ ? failure_ : "the port did not open within " + std::to_string(timeout_s_) + " s";
      Stop();
      throw NetworkError("port " + std::to_string(port), "cannot serve: " + why, false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string StorageServer::Failure() const { return ended_ ? failure_ : std::string(); }

void StorageServer::Stop() {
  if (!thread_.joinable()) return;
  pool_->stopAfterCurrentAssociations();
  thread_.join();
}

}  // namespace medpipe::net
