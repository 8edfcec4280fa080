#include "isolation/header_pass_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>

#include "isolation/child_process.h"
#include "isolation/exit_codes.h"
#include "isolation/message_channel.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/dicom/file_header_codec.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

constexpr size_t kFilesPerChild = 256;  // a fork per chunk, not per file

// A child's records, one message each: kind, file index, bytes. 'B' a file begins; 'H' its header; 'R'
// a file its DICOMDIR names; 'P' its problem; 'N' not DICOM; 'E' the file is done.
struct Record {
  char kind = 0;
  uint64_t index = 0;
  std::string bytes;
};
constexpr size_t kRecordHead = 1 + sizeof(uint64_t);

void SendRecord(const MessageChannel& channel, char kind, uint64_t index, const std::string& bytes) {
  std::string message(1, kind);
  message.append(reinterpret_cast<const char*>(&index), sizeof index).append(bytes);
  if (!channel.Send(message)) ::_exit(kExitCannotStart);  // the indexing process is gone
}

// A header too large for a message is the file's problem, as any other header the pass cannot carry.
void SendHeader(const MessageChannel& channel, uint64_t index, const dicom::FileHeader& header) {
  const std::string bytes = dicom::EncodeFileHeader(header);
  if (kRecordHead + bytes.size() <= MessageChannel::kMaxMessageBytes) {
    SendRecord(channel, 'H', index, bytes);
  } else {
    SendRecord(channel, 'P', index, "its header, re-encoded, has " + std::to_string(bytes.size()) + " bytes; the header pass carries at most " +
                                        std::to_string(MessageChannel::kMaxMessageBytes - kRecordHead));
  }
}

[[noreturn]] void ReadInChild(const std::vector<fs::path>& files, const std::vector<size_t>& chunk,
                              const dicom::HeaderLimits& header_limits, const DecodeLimits& limits, int fd) {
  BoundAddressSpace(limits.max_added_bytes);
  const MessageChannel channel(fd);
  for (const size_t i : chunk) {
    SendRecord(channel, 'B', i, "");
    FailPoint("header_reading:" + files[i].filename().string());
    const dicom::HeaderOutcome outcome = dicom::ReadHeaderOf(files[i], header_limits);
    for (const auto& reference : outcome.references) SendRecord(channel, 'R', i, reference.string());
    if (outcome.header) SendHeader(channel, i, *outcome.header);
    if (outcome.problem) SendRecord(channel, 'P', i, *outcome.problem);
    if (outcome.non_dicom) SendRecord(channel, 'N', i, "");
    SendRecord(channel, 'E', i, "");
  }
  ::_exit(0);
}

Record ParseRecord(const std::string& message, size_t files) {
  if (message.size() < kRecordHead)
    throw InternalError("header pass", "a record of " + std::to_string(message.size()) + " bytes from a reading process; expected at least " +
                                           std::to_string(kRecordHead));
  Record record;
  record.kind = message[0];
  std::memcpy(&record.index, message.data() + 1, sizeof record.index);
  if (record.index >= files)
    throw InternalError("header pass", "a record for file " + std::to_string(record.index) + " from a reading process; expected one of " +
                                           std::to_string(files) + " files");
  record.bytes = message.substr(kRecordHead);
  return record;
}

// Applies MESSAGES to OUTCOMES; CURRENT is the file begun and not done.
void TakeRecords(const std::vector<std::string>& messages, std::vector<dicom::HeaderOutcome>& outcomes, std::optional<size_t>& current) {
  for (const auto& message : messages) {
    Record record = ParseRecord(message, outcomes.size());
    auto& outcome = outcomes[record.index];
    switch (record.kind) {
      case 'B': current = record.index; break;
      case 'H': outcome.header = dicom::DecodeFileHeader(record.bytes); break;
      case 'R': outcome.references.emplace_back(std::move(record.bytes)); break;
      case 'P': outcome.problem = std::move(record.bytes); break;
      case 'N': outcome.non_dicom = true; break;
      default: current.reset(); break;
    }
  }
}

using Clock = std::chrono::steady_clock;

// A child process reading one chunk of files, as its parent sees it.
struct ChunkReader {
  ChildProcess process;  // killed and reaped should the pass end early (an exception)
  MessageChannel channel;
  std::vector<size_t> chunk;
  std::optional<size_t> current;  // the file it is reading
  Clock::time_point last_record;
};

ChunkReader StartReader(const std::vector<fs::path>& files, std::vector<size_t> chunk, const dicom::HeaderLimits& header_limits,
                        const DecodeLimits& limits) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw IoError("pipe", std::strerror(errno));
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    ::close(fds[0]);
    ReadInChild(files, chunk, header_limits, limits, fds[1]);
  }
  ::close(fds[1]);
  ChunkReader reader;
  reader.process = std::move(child);
  reader.channel = MessageChannel(fds[0]);
  reader.chunk = std::move(chunk);
  reader.last_record = Clock::now();
  return reader;
}

// Reaps READER's process. Returns the files it did not reach because it ended (or was killed, when
// TIMED_OUT) on the file before them, which gets the reason as its problem.
std::vector<size_t> FinishReader(ChunkReader& reader, bool timed_out, std::vector<dicom::HeaderOutcome>& outcomes) {
  if (timed_out) reader.process.Kill();
  reader.channel.Close();
  const ChildExit ended = reader.process.Wait();
  if (!reader.current) return {};
  auto& culprit = outcomes[*reader.current];
  culprit = {};  // what it had sent of a DICOMDIR's files is not trusted
  culprit.problem = timed_out ? "the header pass took longer than --decode-timeout on this file"
                              : "the header pass ended on this file: " + ended.Describe();
  return {std::find(reader.chunk.begin(), reader.chunk.end(), *reader.current) + 1, reader.chunk.end()};
}

}  // namespace

// One thread forks every process and reads them all with poll(): forking while other threads of this
// process might hold a lock (an allocator's, under AddressSanitizer) would leave the child waiting
// for it for ever.
dicom::HeaderPass IsolatedHeaderPass(unsigned lanes, const DecodeLimits& limits) {
  return [lanes, limits](const std::vector<fs::path>& files, const dicom::HeaderLimits& header_limits) {
    std::vector<dicom::HeaderOutcome> outcomes(files.size());
    std::deque<std::vector<size_t>> chunks;
    for (size_t first = 0; first < files.size(); first += kFilesPerChild) {
      chunks.emplace_back();
      for (size_t i = first; i < std::min(files.size(), first + kFilesPerChild); ++i) chunks.back().push_back(i);
    }
    const auto timeout = std::chrono::duration<double>(limits.timeout_s);
    std::vector<ChunkReader> readers;
    while (!chunks.empty() || !readers.empty()) {
      while (readers.size() < std::max(1u, lanes) && !chunks.empty()) {
        readers.push_back(StartReader(files, std::move(chunks.front()), header_limits, limits));
        chunks.pop_front();
      }
      std::vector<pollfd> ready;
      for (const auto& reader : readers) ready.push_back({reader.channel.Fd(), POLLIN, 0});
      if (::poll(ready.data(), ready.size(), 200) < 0 && errno != EINTR) throw IoError("poll", std::strerror(errno));
      for (size_t i = readers.size(); i-- > 0;) {
        auto& reader = readers[i];
        bool ended = false, timed_out = false;
        if (ready[i].revents) {
          std::vector<std::string> messages;
          ended = !reader.channel.Receive(0, messages);
          TakeRecords(messages, outcomes, reader.current);
          if (!ended) reader.last_record = Clock::now();
        } else if (limits.timeout_s > 0 && Clock::now() - reader.last_record > timeout) {
          ended = timed_out = true;
        }
        if (!ended) continue;
        auto rest = FinishReader(reader, timed_out, outcomes);
        if (!rest.empty()) chunks.push_front(std::move(rest));  // a new process goes on after the culprit
        readers.erase(readers.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    return outcomes;
  };
}

}  // namespace medpipe::cli
