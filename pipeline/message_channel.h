#pragma once
// The one message format of the pipes between a run's processes (README: Isolation): a message is one
// line of text, JSON for structured messages (nlohmann's dump() without indent never writes a newline),
// ended by '\n'. A MessageChannel owns one end of a pipe. Pipes that carry bytes rather than lines (the
// header pass's binary records, the decoders' memfd handover) keep their own formats.
#include <string>
#include <vector>

namespace medpipe::cli {

class MessageChannel {
 public:
  MessageChannel() = default;
  explicit MessageChannel(int fd) : fd_(fd) {}  // owns FD
  ~MessageChannel() { Close(); }
  MessageChannel(MessageChannel&& other) noexcept;
  MessageChannel& operator=(MessageChannel&& other) noexcept;
  MessageChannel(const MessageChannel&) = delete;
  MessageChannel& operator=(const MessageChannel&) = delete;

  int Fd() const { return fd_; }
  bool Open() const { return fd_ >= 0; }
  void Close();

  // Writes MESSAGE (no '\n' in it) and its '\n' whole, through signals and partial writes. A message
  // of up to PIPE_BUF bytes goes in one write(), so writers sharing a pipe (several threads or
  // processes) never interleave. False when the reader is gone or the channel is closed. Safe from
  // several threads at once on a blocking descriptor.
  bool Send(const std::string& message) const;

  // Waits up to TIMEOUT_MS (-1: for ever; 0: not at all) for bytes, reads what is there once and
  // appends each complete message to MESSAGES. False once the writer has closed its end (or reading
  // failed); true otherwise, also when nothing came or a signal interrupted the wait.
  bool Receive(int timeout_ms, std::vector<std::string>& messages);
  // Reads every byte there is now, without waiting; false once the writer has closed its end.
  bool ReceiveAvailable(std::vector<std::string>& messages);

 private:
  int fd_ = -1;
  std::string partial_;  // a message whose '\n' has not come yet
};

}  // namespace medpipe::cli
