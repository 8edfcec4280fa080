#include "header_pass_process.h"

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

#include "child_process.h"
#include "commands.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/dicom/file_header_codec.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

constexpr size_t kFilesPerChild = 256;  // a fork per chunk, not per file

// Records from a child: kind, file index, length, bytes. 'B' a file begins; 'H' its header; 'R' a file
// its DICOMDIR names; 'P' its problem; 'N' not DICOM; 'E' the file is done.
void WriteRecord(int fd, char kind, uint64_t index, const std::string& bytes) {
  std::string record(1, kind);
  const uint64_t length = bytes.size();
  record.append(reinterpret_cast<const char*>(&index), sizeof index).append(reinterpret_cast<const char*>(&length), sizeof length);
  record += bytes;
  for (size_t written = 0; written < record.size();) {
    const ssize_t n = ::write(fd, record.data() + written, record.size() - written);
    if (n <= 0) ::_exit(kExitCannotStart);  // the indexing process is gone
    written += static_cast<size_t>(n);
  }
}

[[noreturn]] void ReadInChild(const std::vector<fs::path>& files, const std::vector<size_t>& chunk,
                              const dicom::HeaderLimits& header_limits, const DecodeLimits& limits, int fd) {
  BoundAddressSpace(limits.max_added_bytes);
  for (const size_t i : chunk) {
    WriteRecord(fd, 'B', i, "");
    FailPoint("header_reading:" + files[i].filename().string());
    const dicom::HeaderOutcome outcome = dicom::ReadHeaderOf(files[i], header_limits);
    for (const auto& reference : outcome.references) WriteRecord(fd, 'R', i, reference.string());
    if (outcome.header) WriteRecord(fd, 'H', i, dicom::EncodeFileHeader(*outcome.header));
    if (outcome.problem) WriteRecord(fd, 'P', i, *outcome.problem);
    if (outcome.non_dicom) WriteRecord(fd, 'N', i, "");
    WriteRecord(fd, 'E', i, "");
  }
  ::_exit(0);
}

// Parses the complete records at the front of BUFFER into OUTCOMES; CURRENT is the file begun and not done.
void TakeRecords(std::string& buffer, std::vector<dicom::HeaderOutcome>& outcomes, std::optional<size_t>& current) {
  constexpr size_t kHead = 1 + 2 * sizeof(uint64_t);
  while (buffer.size() >= kHead) {
    uint64_t index = 0, length = 0;
    std::memcpy(&index, buffer.data() + 1, sizeof index);
    std::memcpy(&length, buffer.data() + 1 + sizeof index, sizeof length);
    if (buffer.size() < kHead + length) return;
    const std::string bytes = buffer.substr(kHead, length);
    auto& outcome = outcomes.at(index);
    switch (buffer[0]) {
      case 'B': current = index; break;
      case 'H': outcome.header = dicom::DecodeFileHeader(bytes); break;
      case 'R': outcome.references.emplace_back(bytes); break;
      case 'P': outcome.problem = bytes; break;
      case 'N': outcome.non_dicom = true; break;
      default: current.reset(); break;
    }
    buffer.erase(0, kHead + length);
  }
}

using Clock = std::chrono::steady_clock;

// A child process reading one chunk of files, as its parent sees it.
struct ChunkReader {
  ChildProcess process;  // killed and reaped should the pass end early (an exception)
  int fd = -1;
  std::vector<size_t> chunk;
  std::string buffer;
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
  reader.fd = fds[0];
  reader.chunk = std::move(chunk);
  reader.last_record = Clock::now();
  return reader;
}

// Reaps READER's process. Returns the files it did not reach because it ended (or was killed, when
// TIMED_OUT) on the file before them, which gets the reason as its problem.
std::vector<size_t> FinishReader(ChunkReader& reader, bool timed_out, std::vector<dicom::HeaderOutcome>& outcomes) {
  if (timed_out) reader.process.Kill();
  ::close(reader.fd);
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
      for (const auto& reader : readers) ready.push_back({reader.fd, POLLIN, 0});
      if (::poll(ready.data(), ready.size(), 200) < 0 && errno != EINTR) throw IoError("poll", std::strerror(errno));
      for (size_t i = readers.size(); i-- > 0;) {
        auto& reader = readers[i];
        bool ended = false, timed_out = false;
        if (ready[i].revents) {
          char block[65536];
          const ssize_t got = ::read(reader.fd, block, sizeof block);
          if (got > 0) {
            reader.buffer.append(block, static_cast<size_t>(got));
            TakeRecords(reader.buffer, outcomes, reader.current);
            reader.last_record = Clock::now();
          } else {
            ended = got == 0 || errno != EINTR;
          }
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
