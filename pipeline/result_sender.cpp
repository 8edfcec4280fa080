#include "result_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "child_process.h"
#include "commands.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
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

// The sending process: sends each study named on IN_FD, in order, recording each in LEDGER; at the
// end of IN_FD writes how many failed to RESULT_FD.
[[noreturn]] void SendInChild(const net::Peer& peer, const net::NetSettings& settings, const fs::path& studies_dir,
                              const fs::path& ledger, int in_fd, int result_fd) {
  std::set<std::string> sent;  // "<study id> <sha256 of its objects>" sent to this destination
  for (const auto& record : ReadJsonLines(ledger.parent_path(), "sent"))
    if (record.value("destination", "") == peer.Describe() && record.value("status", "") == "sent")
      sent.insert(record.value("study_id", "") + " " + record.value("sha256", ""));
  uint64_t failed = 0;
  FILE* in = ::fdopen(in_fd, "r");
  char* line = nullptr;
  size_t capacity = 0;
  for (ssize_t length; (length = ::getline(&line, &capacity, in)) > 0;) {
    const std::string study_id(line, static_cast<size_t>(length) - 1);
    FailPoint("sending");
    const auto objects = DicomObjectsOf(studies_dir / study_id);
    if (objects.empty()) continue;
    const std::string digest = DigestOf(objects);
    if (sent.count(study_id + " " + digest)) continue;
    nlohmann::json record = {{"study_id", study_id}, {"destination", peer.Describe()}, {"objects", objects.size()}, {"sha256", digest}};
    try {
      net::SendFiles(peer, settings, objects);
      record["status"] = "sent";
      sent.insert(study_id + " " + digest);
      Log(LogLevel::Info, "study " + study_id + ": " + std::to_string(objects.size()) + " DICOM objects sent to " + peer.Describe());
    } catch (const std::exception& error) {
      record["status"] = "failed";
      record["error"] = error.what();
      ++failed;
      Log(LogLevel::Error, "study " + study_id + ": sending its results failed: " + error.what() + " (a rerun sends them)");
    }
    record["time"] = UtcTimestamp();
    try {
      AppendJsonLine(ledger, record);
    } catch (const std::exception& error) {  // then a rerun sends this study again: no harm
      Log(LogLevel::Error, std::string("cannot record what was sent: ") + error.what());
    }
  }
  const bool told = ::write(result_fd, &failed, sizeof failed) == sizeof failed;
  ::_exit(told ? kExitOk : kExitCannotStart);
}

}  // namespace

ResultSender::ResultSender(const net::Peer& peer, const net::NetSettings& settings, const fs::path& studies_dir,
                           const fs::path& ledger) {
  int queue[2], result[2];
  if (::pipe2(queue, O_CLOEXEC) != 0 || ::pipe2(result, O_CLOEXEC) != 0) throw IoError("pipe", std::strerror(errno));
  child_ = ChildProcess::Fork();
  if (child_.InChild()) {
    ::close(queue[1]);
    ::close(result[0]);
    SendInChild(peer, settings, studies_dir, ledger, queue[0], result[1]);
  }
  ::close(queue[0]);
  ::close(result[1]);
  queue_fd_ = queue[1];
  result_fd_ = result[0];
  ::fcntl(queue_fd_, F_SETFL, O_NONBLOCK);  // a full pipe leaves the rest in backlog_
}

ResultSender::~ResultSender() { Finish(); }

void ResultSender::Send(const std::string& study_id) {
  backlog_ += study_id + "\n";
  ++queued_;
  Flush();
}

void ResultSender::Flush() {
  while (!backlog_.empty()) {
    const ssize_t written = ::write(queue_fd_, backlog_.data(), backlog_.size());
    if (written > 0) {
      backlog_.erase(0, static_cast<size_t>(written));
    } else if (errno != EINTR) {
      if (errno != EAGAIN) backlog_.clear();  // the sending process is gone: Finish() says so
      return;
    }
  }
}

size_t ResultSender::Finish() {
  if (!child_.Running()) return failed_;
  ::fcntl(queue_fd_, F_SETFL, 0);
  Flush();
  ::close(queue_fd_);
  uint64_t failed = 0;
  ssize_t got;
  while ((got = ::read(result_fd_, &failed, sizeof failed)) < 0 && errno == EINTR) {
  }
  ::close(result_fd_);
  const ChildExit status = child_.Wait();
  if (got == sizeof failed) {
    failed_ = failed;
  } else {
    failed_ = queued_;
    Log(LogLevel::Error, "the process sending results ended: " + status.Describe() +
                             "; a rerun sends every study sent.jsonl does not list as sent");
  }
  return failed_;
}

}  // namespace medpipe::cli
