#include "message_channel.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace medpipe::cli {

MessageChannel::MessageChannel(MessageChannel&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), partial_(std::move(other.partial_)) {}

MessageChannel& MessageChannel::operator=(MessageChannel&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    partial_ = std::move(other.partial_);
  }
  return *this;
}

void MessageChannel::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  partial_.clear();  // a message cut off by the end is no message
}

bool MessageChannel::Send(const std::string& message) const {
  if (fd_ < 0) return false;
  const std::string line = message + "\n";
  for (size_t written = 0; written < line.size();) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // a non-blocking descriptor, full: wait for room
      pollfd room{fd_, POLLOUT, 0};
      ::poll(&room, 1, -1);
      continue;
    }
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

bool MessageChannel::Receive(int timeout_ms, std::vector<std::string>& messages) {
  if (fd_ < 0) return false;
  pollfd ready{fd_, POLLIN, 0};
  if (::poll(&ready, 1, timeout_ms) <= 0) return true;  // nothing yet, or a signal to look at
  char bytes[4096];
  const ssize_t n = ::read(fd_, bytes, sizeof bytes);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  partial_.append(bytes, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1)
    messages.push_back(partial_.substr(start, end - start));
  partial_.erase(0, start);
  return true;
}

bool MessageChannel::ReceiveAvailable(std::vector<std::string>& messages) {
  while (true) {
    pollfd ready{fd_, POLLIN, 0};
    if (fd_ < 0) return false;
    int polled;
    while ((polled = ::poll(&ready, 1, 0)) < 0 && errno == EINTR) {
    }
    if (polled <= 0) return true;
    if (!Receive(0, messages)) return false;
  }
}

}  // namespace medpipe::cli
