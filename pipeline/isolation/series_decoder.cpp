#include "isolation/series_decoder.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <new>

#include <itkImportImageContainer.h>
#include <nlohmann/json.hpp>

#include "isolation/child_process.h"
#include "isolation/exit_codes.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/core/stopwatch.h"
#include "medpipe/dicom/source_series.h"

namespace medpipe::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A request is the address of the series (see DecoderProcess::Decode); a reply is one JSON message,
// with the shared memory that holds the header and voxels attached on success.
struct Request {
  const dicom::Series* series;
  size_t volume;  // of a 4-D series; 0 otherwise
};

bool SendMessage(int socket, const std::string& text, int attached_fd) {
  iovec part{const_cast<char*>(text.data()), text.size()};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (attached_fd >= 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &attached_fd, sizeof(int));
  }
  return ::sendmsg(socket, &message, MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// One message (empty once the peer is gone) and the descriptor attached to it, if any.
std::string ReceiveMessage(int socket, int& attached_fd) {
  attached_fd = -1;
  std::string text(1 << 16, '\0');
  iovec part{text.data(), text.size()};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header))
    if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) std::memcpy(&attached_fd, CMSG_DATA(header), sizeof(int));
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

// The file an error about decoding SERIES names: its first.
std::string FirstFileOf(const dicom::Series& series) { return series.files.empty() ? series.id : series.files.front().path; }

// An error for the caller, thrown there again as its KIND (ThrowError).
std::string ErrorReply(ErrorKind kind, const std::string& where, const std::string& reason) {
  constexpr size_t kMaxLength = 4096;  // a reply is one message; hostile tags can make a reason long
  return JsonText(
      {{"error", reason.substr(0, kMaxLength)}, {"kind", ErrorKindName(kind)}, {"where", where.substr(0, kMaxLength)}}, -1);
}
// ERROR as a reply, CONTEXT before its reason; an exception that is no medpipe Error is a bug, about WHERE.
std::string ErrorReply(const std::exception& error, const std::string& where, const std::string& context = "") {
  if (const auto* known = dynamic_cast<const Error*>(&error))
    return ErrorReply(known->Kind(), known->Where(), context + known->Reason());
  return ErrorReply(ErrorKind::Internal, where, context + "unexpected failure: " + error.what());
}

void WriteAll(int fd, const char* bytes, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError("shared memory", std::strerror(errno));
    bytes += n, size -= static_cast<size_t>(n), offset += static_cast<uint64_t>(n);
  }
}

void ReadAll(int fd, char* bytes, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError("shared memory", "the decoder's reply is shorter than it says");
    bytes += n, size -= static_cast<size_t>(n), offset += static_cast<uint64_t>(n);
  }
}

uint64_t PageAligned(uint64_t bytes) {
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
  return (bytes + page - 1) / page * page;
}

// A shared mapping of part of a memfd; POPULATE prefaults it in one call rather than a fault per page.
void* MapShared(int memfd, uint64_t offset, size_t bytes, bool populate) {
  void* mapping = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), memfd,
                         static_cast<off_t>(offset));
  if (mapping == MAP_FAILED) throw IoError("shared memory", std::string("cannot map: ") + std::strerror(errno));
  return mapping;
}

// Voxels that live in a shared mapping: unmapped when the image lets go of them.
class MappedVoxels : public VoxelBuffer {
 public:
  using Self = MappedVoxels;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);

  void Adopt(void* mapping, size_t count) {
    mapping_ = mapping;
    bytes_ = count * sizeof(float);
    SetImportPointer(static_cast<float*>(mapping), count, false);
  }

 protected:
  MappedVoxels() = default;
  ~MappedVoxels() override {
    if (mapping_) ::munmap(mapping_, bytes_);
  }

 private:
  void* mapping_ = nullptr;
  size_t bytes_ = 0;
};

// The shared memory a decoding child fills and the worker maps, in regions of whole pages: the
// slices decode straight into one, so a volume crosses to the worker without a copy.
class SharedRegions {
 public:
  SharedRegions() : fd_(::memfd_create("medpipe-series", MFD_CLOEXEC)) {
    if (fd_ < 0) throw IoError("memfd_create", std::strerror(errno));
  }
  int Fd() const { return fd_; }

  // COUNT voxels on new pages (a VoxelAllocator for the loader).
  VoxelBuffer::Pointer Voxels(size_t count) {
    const uint64_t offset = Grow(count * sizeof(float));
    auto buffer = MappedVoxels::New();
    buffer->Adopt(MapShared(fd_, offset, count * sizeof(float), false), count);
    offsets_[buffer->GetBufferPointer()] = offset;
    return buffer;
  }

  // Where the COUNT voxels at VOXELS lie here: copied onto new pages unless they are in a region already.
  uint64_t Place(const float* voxels, size_t count) {
    if (const auto found = offsets_.find(voxels); found != offsets_.end()) return found->second;
    return Place(reinterpret_cast<const char*>(voxels), count * sizeof(float));
  }
  uint64_t Place(const char* bytes, size_t size) {
    const uint64_t offset = Grow(size);
    WriteAll(fd_, bytes, size, offset);
    return offset;
  }

 private:
  uint64_t Grow(size_t bytes) {
    const uint64_t offset = end_;
    end_ += PageAligned(std::max<size_t>(bytes, 1));
    if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) throw IoError("shared memory", std::strerror(errno));
    return offset;
  }

  int fd_;
  uint64_t end_ = 0;
  std::map<const float*, uint64_t> offsets_;
};

// The reply for a decoded series: its grid, timings and where header and channels lie in REGIONS.
std::string DescribeDecoded(const DecodedSeries& decoded, SharedRegions& regions) {
  const Image3D& grid = decoded.volume.Grid();
  const auto size = grid.GetLargestPossibleRegion().GetSize();
  nlohmann::json reply = {{"size", {size[0], size[1], size[2]}},
                          {"spacing", {grid.GetSpacing()[0], grid.GetSpacing()[1], grid.GetSpacing()[2]}},
                          {"origin", {grid.GetOrigin()[0], grid.GetOrigin()[1], grid.GetOrigin()[2]}},
                          {"direction", nlohmann::json::array()},
                          {"channel_offsets", nlohmann::json::array()},
                          {"header_offset", regions.Place(decoded.header.data(), decoded.header.size())},
                          {"header_bytes", decoded.header.size()},
                          {"decode_ms", decoded.timings.decode_ms},
                          {"assemble_ms", decoded.timings.assemble_ms}};
  for (unsigned r = 0; r < 3; ++r)
    for (unsigned c = 0; c < 3; ++c) reply["direction"].push_back(grid.GetDirection()(r, c));
  for (const auto& channel : decoded.volume.channels)
    reply["channel_offsets"].push_back(regions.Place(channel->GetBufferPointer(), channel->GetPixelContainer()->Size()));
  return reply.dump();
}

DecodedSeries ReadDecoded(const nlohmann::json& reply, int memfd) {
  DecodedSeries decoded;
  Image3D::SizeType size;
  Image3D::SpacingType spacing;
  Image3D::PointType origin;
  Image3D::DirectionType direction;
  for (unsigned i = 0; i < 3; ++i) {
    size[i] = reply.at("size")[i].get<itk::SizeValueType>();
    spacing[i] = reply.at("spacing")[i].get<double>();
    origin[i] = reply.at("origin")[i].get<double>();
    for (unsigned c = 0; c < 3; ++c) direction(i, c) = reply.at("direction")[3 * i + c].get<double>();
  }
  decoded.header.resize(reply.at("header_bytes").get<size_t>());
  ReadAll(memfd, decoded.header.data(), decoded.header.size(), reply.at("header_offset").get<uint64_t>());
  const size_t count = size[0] * size[1] * size[2];
  for (const auto& offset : reply.at("channel_offsets")) {
    auto voxels = MappedVoxels::New();
    voxels->Adopt(MapShared(memfd, offset.get<uint64_t>(), count * sizeof(float), true), count);
    auto channel = Image3D::New();
    channel->SetRegions(size);
    channel->SetSpacing(spacing);
    channel->SetOrigin(origin);
    channel->SetDirection(direction);
    channel->SetPixelContainer(voxels);
    decoded.volume.channels.push_back(channel);
  }
  decoded.timings = {reply.at("decode_ms").get<double>(), reply.at("assemble_ms").get<double>()};
  return decoded;
}

// In the disposable child: decode under the limits and send the reply to the decoder process.
[[noreturn]] void DecodeInChild(const dicom::Series& series, size_t volume, const DecodeLimits& limits, int socket) {
  BoundAddressSpace(limits.max_added_bytes);
  std::string reply;
  int memfd = -1;
  try {
    FailPoint("series_decoding");
    SharedRegions regions;
    DecodedSeries decoded;
    decoded.volume =
        dicom::LoadSeriesVolume(series, volume, &decoded.timings, [&](size_t count) { return regions.Voxels(count); });
    decoded.header = dicom::ReencodeSourceHeader(series);
    reply = DescribeDecoded(decoded, regions);
    memfd = regions.Fd();
  } catch (const std::bad_alloc&) {  // a DicomError, as the loader's own shortage of memory for the volume is
    reply = ErrorReply(ErrorKind::Dicom, FirstFileOf(series),
                       "decoding the series' " + std::to_string(series.files.size()) +
                           " files needs more memory than --max-decode-gib allows; raise it if the series is genuine");
  } catch (const std::exception& error) {
    reply = ErrorReply(error, FirstFileOf(series));
  }
  SendMessage(socket, reply, memfd);
  ::_exit(0);  // no destructors of the parent's objects
}

// Why a child that did not answer has no answer: it ran out of time (and was killed), or it ended.
std::string NoAnswerReply(const dicom::Series& series, ChildProcess& child, bool timed_out, double timeout_s) {
  if (timed_out) child.Kill();
  const ChildExit status = child.Wait();
  const std::string where = FirstFileOf(series);
  const std::string files = "decoding the series' " + std::to_string(series.files.size()) + " files";
  if (timed_out)
    return ErrorReply(ErrorKind::Dicom, where,
                      files + " took longer than " + nlohmann::json(timeout_s).dump() +
                          " s (--decode-timeout); the decoding process was stopped");
  const std::string ended = status.Describe();
  return ErrorReply(ErrorKind::Dicom, where,
                    files + ", the decoding process ended before it answered: " + (ended.empty() ? "exit code 0" : ended));
}

// In the decoder process: one disposable child per request; its reply, or why there is none, goes back.
[[noreturn]] void ServeRequests(int socket, const DecodeLimits& limits) {
  Request request{};
  while (::recv(socket, &request, sizeof request, 0) == static_cast<ssize_t>(sizeof request)) {
    int pair[2] = {-1, -1};
    ChildProcess child;
    try {
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) throw IoError("socketpair", std::strerror(errno));
      child = ChildProcess::Fork();
    } catch (const std::exception& error) {
      for (const int fd : pair)
        if (fd >= 0) ::close(fd);
      SendMessage(socket, ErrorReply(error, FirstFileOf(*request.series), "cannot start decoding: "), -1);
      continue;
    }
    if (child.InChild()) {
      ::close(pair[0]);
      ::close(socket);  // its answer goes through this process
      DecodeInChild(*request.series, request.volume, limits, pair[1]);
    }
    ::close(pair[1]);
    const auto deadline = Clock::now() + std::chrono::duration<double>(limits.timeout_s);
    pollfd ready{pair[0], POLLIN, 0};
    int polled;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      polled = ::poll(&ready, 1, limits.timeout_s > 0 ? static_cast<int>(std::max<int64_t>(left, 0)) : -1);
    } while (polled < 0 && errno == EINTR);
    int memfd = -1;
    const std::string answer = polled > 0 ? ReceiveMessage(pair[0], memfd) : "";
    ::close(pair[0]);
    if (answer.empty()) {
      SendMessage(socket, NoAnswerReply(*request.series, child, polled == 0, limits.timeout_s), -1);
      continue;
    }
    // The answer goes on first: the child's exit, which frees its copy of the volume, is off the path.
    SendMessage(socket, answer, memfd);
    if (memfd >= 0) ::close(memfd);
    child.Wait();
  }
  ::_exit(0);
}

}  // namespace

DecoderProcess::DecoderProcess(const DecodeLimits& limits) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) throw IoError("socketpair", std::strerror(errno));
  process_ = ChildProcess::Fork();
  if (process_.InChild()) {
    // Only its own socket stays open: a copy of another decoder's socket, or of the worker's pipes,
    // would keep their peers from ever seeing the end.
    constexpr int kSocket = 3;
    if (::dup2(pair[1], kSocket) < 0 || ::close_range(kSocket + 1, ~0U, 0) != 0) ::_exit(kExitCannotStart);
    ServeRequests(kSocket, limits);
  }
  ::close(pair[1]);
  socket_ = pair[0];
}

DecoderProcess::~DecoderProcess() {
  ::close(socket_);  // the decoder's next receive fails and it exits
  process_.Wait();
}

DecodedSeries DecoderProcess::Decode(const dicom::Series& series, size_t volume) {
  Stopwatch clock;
  const Request request{&series, volume};
  int memfd = -1;
  std::string text;
  if (::send(socket_, &request, sizeof request, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof request))
    text = ReceiveMessage(socket_, memfd);
  if (text.empty()) {
    // Forking a new decoder from a process that holds models and threads is not safe: this process
    // ends instead, and its supervisor starts a new one (README: Isolation).
    Log(LogLevel::Error, "decoder process " + std::to_string(process_.Pid()) + " is gone; the worker stops");
    ::_exit(kExitCannotStart);
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{memfd};
  const auto reply = nlohmann::json::parse(text);
  if (reply.contains("error"))
    ThrowError(ErrorKindNamed(reply.value("kind", "")).value_or(ErrorKind::Internal), reply.value("where", ""),
               reply["error"].get<std::string>());
  if (memfd < 0) throw InternalError(FirstFileOf(series), "the decoder answered without the decoded voxels");
  DecodedSeries decoded = ReadDecoded(reply, memfd);
  decoded.handover_ms = clock.Lap() - decoded.timings.decode_ms - decoded.timings.assemble_ms;
  return decoded;
}

SeriesDecoder::SeriesDecoder(unsigned processes, const DecodeLimits& limits) {
  for (unsigned i = 0; i < processes; ++i) {
    processes_.push_back(std::make_unique<DecoderProcess>(limits));
    idle_.push_back(processes_.back().get());
  }
}

DecodedSeries SeriesDecoder::Decode(const dicom::Series& series, size_t volume) {
  if (processes_.empty()) throw InternalError(FirstFileOf(series), "no decoder process was started");
  DecoderProcess* process;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    returned_.wait(lock, [&] { return !idle_.empty(); });
    process = idle_.back();
    idle_.pop_back();
  }
  struct GiveBack {
    SeriesDecoder& pool;
    DecoderProcess* process;
    ~GiveBack() {
      {
        const std::lock_guard<std::mutex> lock(pool.mutex_);
        pool.idle_.push_back(process);
      }
      pool.returned_.notify_one();
    }
  } give_back{*this, process};
  return process->Decode(series, volume);
}

}  // namespace medpipe::cli
