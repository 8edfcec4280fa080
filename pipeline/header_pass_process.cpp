#include "header_pass_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>

#include "child_process.h"
#include "commands.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/parallel_for.h"
#include "medpipe/dicom/file_header_codec.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

constexpr size_t kFilesPerChild = 256;  // a fork per chunk, not per file

// Records from a child: kind, file index, length, bytes. 'B' a file begins; 'H' its header; 'P' its
// problem; 'N' not DICOM.
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
    if (outcome.header) WriteRecord(fd, 'H', i, dicom::EncodeFileHeader(*outcome.header));
    else if (outcome.problem) WriteRecord(fd, 'P', i, *outcome.problem);
    else WriteRecord(fd, 'N', i, "");
  }
  ::_exit(0);
}

// Parses the complete records at the front of BUFFER into OUTCOMES; returns the file begun last.
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
      case 'P': outcome.problem = bytes; break;
      default: outcome.non_dicom = true; break;
    }
    buffer.erase(0, kHead + length);
  }
}

// Reads CHUNK's files in one child process into OUTCOMES. Returns the files it did not reach
// because it ended (or was killed) on the file before them, which gets the reason as its problem.
std::vector<size_t> ReadChunk(const std::vector<fs::path>& files, const std::vector<size_t>& chunk,
                              const dicom::HeaderLimits& header_limits, const DecodeLimits& limits,
                              std::vector<dicom::HeaderOutcome>& outcomes) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw IoError("pipe", std::strerror(errno));
  const pid_t child = ForkChild();
  if (child == 0) {
    ::close(fds[0]);
    ReadInChild(files, chunk, header_limits, limits, fds[1]);
  }
  ::close(fds[1]);
  std::string buffer;
  std::optional<size_t> current;
  bool timed_out = false;
  const int timeout_ms = limits.timeout_s > 0 ? static_cast<int>(limits.timeout_s * 1000) : -1;
  for (char block[65536];;) {
    pollfd readable{fds[0], POLLIN, 0};
    const int ready = ::poll(&readable, 1, timeout_ms);  // the clock restarts with every record
    if (ready == 0) {
      timed_out = true;
      ::kill(child, SIGKILL);
      break;
    }
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t got = ::read(fds[0], block, sizeof block);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    buffer.append(block, static_cast<size_t>(got));
    TakeRecords(buffer, outcomes, current);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::vector<size_t> rest;
  if (!current) return rest;
  auto& culprit = outcomes[*current];
  if (!culprit.header && !culprit.problem && !culprit.non_dicom) {
    culprit.problem = timed_out ? "the header pass took longer than --decode-timeout on this file"
                                : "the header pass ended on this file: " + DescribeExit(status);
    const auto after = std::find(chunk.begin(), chunk.end(), *current) + 1;
    rest.assign(after, chunk.end());
  }
  return rest;
}

}  // namespace

dicom::HeaderPass IsolatedHeaderPass(unsigned lanes, const DecodeLimits& limits) {
  return [lanes, limits](const std::vector<fs::path>& files, const dicom::HeaderLimits& header_limits) {
    std::vector<dicom::HeaderOutcome> outcomes(files.size());
    std::deque<std::vector<size_t>> chunks;
    for (size_t first = 0; first < files.size(); first += kFilesPerChild) {
      chunks.emplace_back();
      for (size_t i = first; i < std::min(files.size(), first + kFilesPerChild); ++i) chunks.back().push_back(i);
    }
    std::mutex mutex;
    const auto next_chunk = [&]() -> std::optional<std::vector<size_t>> {
      const std::lock_guard<std::mutex> lock(mutex);
      if (chunks.empty()) return std::nullopt;
      auto chunk = std::move(chunks.front());
      chunks.pop_front();
      return chunk;
    };
    // Each lane goes on with what its child did not reach, so no chunk waits for a lane that ended.
    ParallelFor(std::max(1u, lanes), std::max(1u, lanes), [&](size_t) {
      while (auto chunk = next_chunk())
        for (auto rest = ReadChunk(files, *chunk, header_limits, limits, outcomes); !rest.empty();)
          rest = ReadChunk(files, rest, header_limits, limits, outcomes);
    });
    return outcomes;
  };
}

}  // namespace medpipe::cli
