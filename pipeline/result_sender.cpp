#include "result_sender.h"

#include <algorithm>
#include <vector>

#include "medpipe/core/digest.h"
#include "medpipe/core/json_lines.h"
#include "medpipe/core/log.h"
#include "medpipe/net/send.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

std::vector<fs::path> DicomObjectsOf(const fs::path& folder) {
  std::vector<fs::path> objects;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".dcm") objects.push_back(entry.path());
  std::sort(objects.begin(), objects.end());
  return objects;
}

// SHA-256 over "<sha256> <name>" of each object: changes when any object does.
std::string DigestOf(const std::vector<fs::path>& objects) {
  std::string lines;
  for (const auto& object : objects) lines += Sha256File(object) + " " + object.filename().string() + "\n";
  return Sha256Hex(lines);
}

}  // namespace

ResultSender::ResultSender(net::Peer peer, net::NetSettings settings, fs::path studies_dir, fs::path ledger)
    : peer_(std::move(peer)), settings_(std::move(settings)), studies_dir_(std::move(studies_dir)), ledger_(std::move(ledger)) {
  for (const auto& record : ReadJsonLines(ledger_.parent_path(), "sent"))
    if (record.value("destination", "") == peer_.Describe() && record.value("status", "") == "sent")
      sent_.insert(record.value("study_id", "") + " " + record.value("sha256", ""));
  thread_ = std::thread([this] { SendLoop(); });
}

ResultSender::~ResultSender() { Finish(); }

void ResultSender::Send(const std::string& study_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push_back(study_id);
  queued_.notify_one();
}

size_t ResultSender::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finishing_ = true;
    queued_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  return failed_;
}

void ResultSender::SendLoop() {
  while (true) {
    std::string study_id;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      queued_.wait(lock, [this] { return finishing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      study_id = queue_.front();
      queue_.pop_front();
    }
    SendStudy(study_id);
  }
}

void ResultSender::SendStudy(const std::string& study_id) {
  const auto objects = DicomObjectsOf(studies_dir_ / study_id);
  if (objects.empty()) return;
  const std::string digest = DigestOf(objects);
  if (sent_.count(study_id + " " + digest)) return;
  nlohmann::json record = {{"study_id", study_id}, {"destination", peer_.Describe()}, {"objects", objects.size()}, {"sha256", digest}};
  try {
    net::SendFiles(peer_, settings_, objects);
    record["status"] = "sent";
    sent_.insert(study_id + " " + digest);
    Log(LogLevel::Info, "study " + study_id + ": " + std::to_string(objects.size()) + " DICOM objects sent to " + peer_.Describe());
  } catch (const std::exception& error) {
    record["status"] = "failed";
    record["error"] = error.what();
    ++failed_;
    Log(LogLevel::Error, "study " + study_id + ": sending its results failed: " + error.what() + " (a rerun sends them)");
  }
  record["time"] = UtcTimestamp();
  try {
    AppendJsonLine(ledger_, record);
  } catch (const std::exception& error) {  // then a rerun sends this study again: no harm
    Log(LogLevel::Error, std::string("cannot record what was sent: ") + error.what());
  }
}

}  // namespace medpipe::cli
