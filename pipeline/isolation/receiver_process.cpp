#include "isolation/receiver_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "isolation/child_process.h"
#include "isolation/exit_codes.h"
#include "isolation/message_channel.h"
#include "medpipe/core/error.h"
#include "medpipe/core/log.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t receiver_stop = 0;
void OnReceiverStop(int) { receiver_stop = 1; }

// The receiving process: a StorageServer until SIGTERM (or SIGINT, as a terminal sends it).
[[noreturn]] void Receive(const net::ServerSettings& settings, const fs::path& inbox_root, int events_fd) {
  std::signal(SIGTERM, OnReceiverStop);
  std::signal(SIGINT, OnReceiverStop);
  // The receiving threads share the channel: a message under PIPE_BUF never interleaves. Should the
  // listener be gone, PR_SET_PDEATHSIG ends this process.
  const MessageChannel events(events_fd);
  int exit_code = kExitOk;
  try {
    net::Inbox inbox(inbox_root, [&events](const std::string& study_id) { events.Send("filed " + study_id); });
    net::StorageServer server(settings, inbox);
    server.Start();
    events.Send("ready");
    while (!receiver_stop && server.Failure().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string failure = server.Failure();
    server.Stop();
    if (!failure.empty()) throw NetworkError("port " + std::to_string(settings.port), failure, false);
  } catch (const std::exception& error) {
    events.Send(std::string("error ") + error.what());
    exit_code = kExitCannotStart;
  }
  ::_exit(exit_code);
}

}  // namespace

ReceiverProcess::ReceiverProcess(net::ServerSettings settings, fs::path inbox_root, uint64_t max_resident_bytes)
    : settings_(std::move(settings)), inbox_root_(std::move(inbox_root)), max_resident_bytes_(max_resident_bytes) {}

ReceiverProcess::~ReceiverProcess() { Stop(); }

void ReceiverProcess::Start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw IoError("pipe", std::strerror(errno));
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    ::close(fds[0]);
    Receive(settings_, inbox_root_, fds[1]);
  }
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  child_ = std::move(child);
  events_ = MessageChannel(fds[0]);
  ready_ = false;
  error_.clear();
  started_ = Clock::now();
  const auto deadline = started_ + std::chrono::seconds(30);
  while (!ready_) {
    ReadEvents();  // nothing is filed before "ready"
    std::optional<ChildExit> ended = child_.TryWait();
    if (!ready_ && !ended && Clock::now() > deadline) {
      child_.Kill();
      ended = child_.Wait();
      error_ = "the receiving process did not start listening within 30 s";
    }
    if (ended) {  // even after "ready": a receiver that is gone does not receive
      ReadEvents();
      throw NetworkError("port " + std::to_string(settings_.port),
                         error_.empty() ? "the receiving process ended: " + ended->Describe() : error_, false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<std::string> ReceiverProcess::ReadEvents() {
  std::vector<std::string> filed;
  std::vector<std::string> lines;
  events_.ReceiveAvailable(lines);
  for (const auto& line : lines) {
    if (line == "ready") ready_ = true;
    else if (line.rfind("filed ", 0) == 0) filed.push_back(line.substr(6));
    else if (line.rfind("error ", 0) == 0) error_ = line.substr(6);
  }
  filed_ += filed.size();
  return filed;
}

std::vector<std::string> ReceiverProcess::Poll() {
  auto filed = ReadEvents();
  if (!child_.Running()) return filed;
  if (const auto ended = child_.TryWait()) {
    const auto last = ReadEvents();  // what it filed before it ended
    filed.insert(filed.end(), last.begin(), last.end());
    Restart("the receiving process ended (" + ended->Describe() + (error_.empty() ? "" : ": " + error_) + ")");
  } else if (const uint64_t resident = MemoryOf(std::to_string(child_.Pid())).resident; resident > max_resident_bytes_) {
    child_.Kill();
    child_.Wait();
    const auto last = ReadEvents();
    filed.insert(filed.end(), last.begin(), last.end());
    Restart("the receiving process used " + std::to_string(resident >> 20) + " MiB, over --max-receiver-gib (a leak in DCMTK's "
            "association handling, e.g. CVE-2026-50254, or an attack on it)");
  }
  return filed;
}

void ReceiverProcess::Restart(const std::string& why) {
  events_.Close();
  Log(LogLevel::Warning, why + "; starting a new one (associations in progress are cut; senders retry)");
  if (Clock::now() - started_ < std::chrono::seconds(2)) std::this_thread::sleep_for(std::chrono::seconds(1));  // no hot loop
  Start();
}

void ReceiverProcess::Stop() {
  if (child_.Running()) {
    child_.Signal(SIGTERM);
    const auto deadline = Clock::now() + std::chrono::duration<double>(settings_.timeout_s + 5);
    while (!child_.TryWait()) {
      if (Clock::now() > deadline) {
        child_.Kill();
        child_.Wait();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ReadEvents();
  events_.Close();
}

}  // namespace medpipe::cli
