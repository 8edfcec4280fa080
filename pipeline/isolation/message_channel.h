#pragma once
// The one message format of the pipes between a run's processes (README: Isolation): the supervisor
// and the worker, the listener and its receiving process, the header pass's reading processes, the
// result sender. A message is any bytes ('\n' and NUL included: JSON text, a re-encoded file header)
// behind a length prefix, a 4-byte unsigned integer in the machine's byte order (both ends are
// processes of one machine). A MessageChannel owns one end of a pipe. The decoders' SOCK_SEQPACKET
// sockets keep their own format: a seqpacket socket frames each message already, and passes a memfd.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace medpipe::cli {

class MessageChannel {
 public:
  static constexpr size_t kPrefixBytes = sizeof(uint32_t);
  // The largest message, in bytes without its prefix: a larger one is refused on sending, and a prefix
  // that declares one breaks the channel on receiving (nothing of that size is allocated).
  static constexpr size_t kMaxMessageBytes = size_t{64} << 20;

  MessageChannel() = default;
  explicit MessageChannel(int fd) : fd_(fd) {}  // owns FD
  ~MessageChannel() { Close(); }
  MessageChannel(MessageChannel&& other) noexcept;
  MessageChannel& operator=(MessageChannel&& other) noexcept;
  MessageChannel(const MessageChannel&) = delete;
  MessageChannel& operator=(const MessageChannel&) = delete;

  int Fd() const { return fd_; }
  bool Open() const { return fd_ >= 0; }
  void Close();  // what Post queued and was not flushed is dropped

  // Writes MESSAGE whole, through signals and partial writes, waiting for room on a non-blocking
  // descriptor. A message of up to PIPE_BUF bytes with its prefix goes in one write(), so writers
  // sharing a pipe (several threads or processes) never interleave; larger ones from several threads
  // need the caller's lock. False when the reader is gone or the channel is closed. Throws
  // InternalError for a message over kMaxMessageBytes. Safe from several threads at once.
  bool Send(const std::string& message) const;

  // For a non-blocking descriptor: writes what the pipe takes of MESSAGE now and queues the rest,
  // behind what is queued already; never waits. Do not mix with Send on one channel (a Send would
  // overtake the queue). False when the reader is gone (the queue is dropped) or the channel is closed.
  // Throws InternalError as Send does. One thread at a time, as Flush.
  bool Post(const std::string& message);
  // Writes what Post queued: all of it, waiting for room, when WAIT; else what the pipe takes now.
  // False when the reader is gone (the queue is dropped) or the channel is closed.
  bool Flush(bool wait);

  // Waits up to TIMEOUT_MS (-1: for ever; 0: not at all) for bytes, reads what is there once and
  // appends each complete message to MESSAGES. False once the writer has closed its end, reading
  // failed or a prefix declared more than kMaxMessageBytes (the channel is broken: it stays false);
  // true otherwise, also when nothing came or a signal interrupted the wait.
  bool Receive(int timeout_ms, std::vector<std::string>& messages);
  // Reads every byte there is now, without waiting; false as Receive.
  bool ReceiveAvailable(std::vector<std::string>& messages);

 private:
  bool TakeMessages(std::vector<std::string>& messages);

  int fd_ = -1;
  std::string partial_;  // received bytes of a message not complete yet
  std::string queue_;    // posted messages, framed, the pipe had no room for yet
  bool broken_ = false;  // a prefix declared more than kMaxMessageBytes
};

}  // namespace medpipe::cli
