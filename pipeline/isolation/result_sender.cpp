#include "isolation/result_sender.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "isolation/child_process.h"
#include "isolation/exit_codes.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_lines.h"
#include "medpipe/core/log.h"
#include "medpipe/net/send.h"
#include "medpipe/review/accepted_objects.h"

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

// Sends the objects of STUDY_ID unless SENT lists them as they are now, and records that in LEDGER;
// false when sending failed.
bool SendStudy(const net::Peer& peer, const net::NetSettings& settings, const fs::path& studies_dir, const fs::path& ledger,
               const std::string& study_id, bool reviewed_only, std::set<std::string>& sent) {
  FailPoint("sending");
  std::vector<fs::path> objects;
  try {
    objects = reviewed_only ? review::AcceptedObjects(studies_dir.parent_path(), study_id) : DicomObjectsOf(studies_dir / study_id);
  } catch (const std::exception& error) {
    Log(LogLevel::Error, "study " + study_id + ": its reviewed results cannot be sent: " + error.what());
    return false;
  }
  if (objects.empty()) return true;
  const std::string digest = DigestOf(objects);
  if (sent.count(study_id + " " + digest)) return true;
  nlohmann::json record = {{"study_id", study_id}, {"destination", peer.Describe()}, {"objects", objects.size()}, {"sha256", digest}};
  bool done = false;
  try {
    net::SendFiles(peer, settings, objects);
    done = true;
    record["status"] = "sent";
    sent.insert(study_id + " " + digest);
    Log(LogLevel::Info, "study " + study_id + ": " + std::to_string(objects.size()) + " DICOM objects sent to " + peer.Describe());
  } catch (const std::exception& error) {
    record["status"] = "failed";
    record["error"] = error.what();
    Log(LogLevel::Error, "study " + study_id + ": sending its results failed: " + error.what() + " (a rerun sends them)");
  }
  record["time"] = UtcTimestamp();
  try {
    AppendJsonLine(ledger, record);
  } catch (const std::exception& error) {  // then a rerun sends this study again: no harm
    Log(LogLevel::Error, std::string("cannot record what was sent: ") + error.what());
  }
  return done;
}

// The sending process keeps only its own pipe ends (and stdin, stdout, stderr): an inherited write end of
// the worker's input would keep that pipe open after the run closes it, and the worker would wait for
// more studies forever (a batch larger than --max-inflight, with --send, hung at its end).
void KeepOnlyDescriptors(int in_fd, int result_fd) {
  std::vector<int> others;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (fd > 2 && fd != in_fd && fd != result_fd && fd != ::dirfd(dir)) others.push_back(fd);
    }
    ::closedir(dir);
  }
  for (const int fd : others) ::close(fd);
}

// The sending process: sends each study named on IN_FD, in order; at the end of IN_FD tells how many
// failed on RESULT_FD.
[[noreturn]] void SendInChild(const net::Peer& peer, const net::NetSettings& settings, const fs::path& studies_dir,
                              const fs::path& ledger, bool reviewed_only, int in_fd, int result_fd) {
  std::set<std::string> sent;  // "<study id> <sha256 of its objects>" sent to this destination
  for (const auto& record : ReadJsonLines(ledger.parent_path(), "sent"))
    if (record.value("destination", "") == peer.Describe() && record.value("status", "") == "sent")
      sent.insert(record.value("study_id", "") + " " + record.value("sha256", ""));
  uint64_t failed = 0;
  MessageChannel in(in_fd);
  std::vector<std::string> study_ids;
  for (bool open = true; open; study_ids.clear()) {
    open = in.Receive(-1, study_ids);
    for (const auto& study_id : study_ids) failed += SendStudy(peer, settings, studies_dir, ledger, study_id, reviewed_only, sent) ? 0 : 1;
  }
  ::_exit(MessageChannel(result_fd).Send(std::to_string(failed)) ? kExitOk : kExitCannotStart);
}

// The count of failures the sending process told, when it told one.
std::optional<size_t> FailedCount(MessageChannel& result) {
  std::vector<std::string> messages;
  while (messages.empty() && result.Receive(-1, messages)) {
  }
  if (messages.size() != 1) return std::nullopt;
  const std::string& text = messages[0];
  size_t failed = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), failed);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) return std::nullopt;
  return failed;
}

}  // namespace

ResultSender::ResultSender(const net::Peer& peer, const net::NetSettings& settings, const fs::path& studies_dir,
                           const fs::path& ledger, bool reviewed_only) {
  int queue[2], result[2];
  if (::pipe2(queue, O_CLOEXEC) != 0 || ::pipe2(result, O_CLOEXEC) != 0) throw IoError("pipe", std::strerror(errno));
  child_ = ChildProcess::Fork();
  if (child_.InChild()) {
    KeepOnlyDescriptors(queue[0], result[1]);
    SendInChild(peer, settings, studies_dir, ledger, reviewed_only, queue[0], result[1]);
  }
  ::close(queue[0]);
  ::close(result[1]);
  queue_ = MessageChannel(queue[1]);
  result_ = MessageChannel(result[0]);
  ::fcntl(queue_.Fd(), F_SETFL, O_NONBLOCK);  // a full pipe leaves the rest in the channel's queue
}

ResultSender::~ResultSender() { Finish(); }

void ResultSender::Send(const std::string& study_id) {
  ++queued_;
  queue_.Post(study_id);  // false when the sending process is gone: Finish() says so
}

size_t ResultSender::Finish() {
  if (!child_.Running()) return failed_;
  queue_.Flush(true);
  queue_.Close();
  const std::optional<size_t> failed = FailedCount(result_);
  result_.Close();
  const ChildExit status = child_.Wait();
  if (failed) {
    failed_ = *failed;
  } else {
    failed_ = queued_;
    Log(LogLevel::Error, "the process sending results ended: " + status.Describe() +
                             "; a rerun sends every study sent.jsonl does not list as sent");
  }
  return failed_;
}

}  // namespace medpipe::cli
