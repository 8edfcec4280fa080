#include "isolation/message_channel.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "medpipe/core/error.h"

namespace medpipe::cli {
namespace {

constexpr size_t kReadBlock = 65536;

// MESSAGE behind its length prefix, in one string: one write() for the whole of it.
std::string Framed(const std::string& message) {
  if (message.size() > MessageChannel::kMaxMessageBytes)
    throw InternalError("message channel", "a message of " + std::to_string(message.size()) + " bytes; at most " +
                                               std::to_string(MessageChannel::kMaxMessageBytes) + " may be sent");
  const auto length = static_cast<uint32_t>(message.size());
  std::string frame;
  frame.reserve(sizeof length + message.size());
  frame.append(reinterpret_cast<const char*>(&length), sizeof length).append(message);
  return frame;
}

enum class Written { All, Full, Broken };

// Writes BYTES from WRITTEN on, advancing WRITTEN. A full non-blocking pipe is waited for when WAIT,
// else it ends the writing (Full).
Written WriteFrom(int fd, const std::string& bytes, size_t& written, bool wait) {
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n > 0) {
      written += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      if (!wait) return Written::Full;
      pollfd room{fd, POLLOUT, 0};
      ::poll(&room, 1, -1);
    } else if (n == 0 || errno != EINTR) {
      return Written::Broken;
    }
  }
  return Written::All;
}

}  // namespace

MessageChannel::MessageChannel(MessageChannel&& other) noexcept { *this = std::move(other); }

MessageChannel& MessageChannel::operator=(MessageChannel&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    partial_ = std::exchange(other.partial_, {});
    queue_ = std::exchange(other.queue_, {});
    broken_ = std::exchange(other.broken_, false);
  }
  return *this;
}

void MessageChannel::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  partial_.clear();  // a message cut off by the end is no message
  queue_.clear();
  broken_ = false;
}

bool MessageChannel::Send(const std::string& message) const {
  if (fd_ < 0) return false;
  size_t written = 0;
  return WriteFrom(fd_, Framed(message), written, true) == Written::All;
}

bool MessageChannel::Post(const std::string& message) {
  if (fd_ < 0) return false;
  queue_ += Framed(message);
  return Flush(false);
}

bool MessageChannel::Flush(bool wait) {
  if (fd_ < 0) return false;
  size_t written = 0;
  const Written end = WriteFrom(fd_, queue_, written, wait);
  queue_.erase(0, written);
  if (end != Written::Broken) return true;
  queue_.clear();  // no reader will take it
  return false;
}

bool MessageChannel::Receive(int timeout_ms, std::vector<std::string>& messages) {
  if (fd_ < 0 || broken_) return false;
  pollfd ready{fd_, POLLIN, 0};
  if (::poll(&ready, 1, timeout_ms) <= 0) return true;  // nothing yet, or a signal to look at
  const size_t kept = partial_.size();
  partial_.resize(kept + kReadBlock);
  const ssize_t n = ::read(fd_, &partial_[kept], kReadBlock);
  const int error = errno;
  partial_.resize(kept + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0 && (error == EINTR || error == EAGAIN)) return true;
  if (n <= 0) return false;
  return TakeMessages(messages);
}

// Moves the complete messages at the front of partial_ to MESSAGES; false when a prefix is over the maximum.
bool MessageChannel::TakeMessages(std::vector<std::string>& messages) {
  size_t start = 0;
  uint32_t length = 0;
  while (partial_.size() - start >= sizeof length) {
    std::memcpy(&length, partial_.data() + start, sizeof length);
    if (length > kMaxMessageBytes) {
      broken_ = true;  // a writer that is not ours, or one that lost its place in the stream
      break;
    }
    if (partial_.size() - start - sizeof length < length) break;
    messages.push_back(partial_.substr(start + sizeof length, length));
    start += sizeof length + length;
  }
  partial_.erase(0, start);
  return !broken_;
}

bool MessageChannel::ReceiveAvailable(std::vector<std::string>& messages) {
  while (true) {
    if (fd_ < 0 || broken_) return false;
    pollfd ready{fd_, POLLIN, 0};
    int polled;
    while ((polled = ::poll(&ready, 1, 0)) < 0 && errno == EINTR) {
    }
    if (polled <= 0) return true;
    if (!Receive(0, messages)) return false;
  }
}

}  // namespace medpipe::cli
