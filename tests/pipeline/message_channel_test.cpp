// The message format of the pipes between a run's processes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "isolation/message_channel.h"
#include "medpipe/core/error.h"

// The largest single allocation since the last reset: a declared length must not become one.
static std::atomic<size_t> largest_allocation{0};

void* operator new(size_t size) {
  for (size_t seen = largest_allocation.load(); size > seen && !largest_allocation.compare_exchange_weak(seen, size);) {
  }
  if (void* memory = std::malloc(size)) return memory;
  throw std::bad_alloc();
}
// GCC 12 takes free() in a replaced operator delete for a mismatch with the operator new it replaces.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
#pragma GCC diagnostic pop

namespace medpipe::cli {
namespace {

struct Pipe {
  MessageChannel reader, writer;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    reader = MessageChannel(fds[0]);
    writer = MessageChannel(fds[1]);
  }
};

// MESSAGE as the channel frames it, written here from the documented format: a 4-byte length in this
// machine's byte order, then the bytes.
std::string Frame(const std::string& message, uint32_t length) {
  return std::string(reinterpret_cast<const char*>(&length), sizeof length) + message;
}
std::string Frame(const std::string& message) { return Frame(message, static_cast<uint32_t>(message.size())); }

void WriteBytes(const MessageChannel& channel, const std::string& bytes) {
  ASSERT_EQ(::write(channel.Fd(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

// Every message until the writer closes its end.
std::vector<std::string> ReceiveToTheEnd(MessageChannel& reader) {
  std::vector<std::string> messages;
  while (reader.Receive(-1, messages)) {
  }
  return messages;
}

// Every byte value, newlines and NULs among them.
std::string AllByteValues() {
  std::string bytes;
  for (int value = 0; value < 256; ++value) bytes += static_cast<char>(value);
  return bytes + "\n\n" + std::string(3, '\0');
}

TEST(MessageChannel, MessagesArriveWholeAndInOrderHoweverTheBytesAreCut) {
  Pipe pipe;
  ASSERT_TRUE(pipe.writer.Send("ready"));
  ASSERT_TRUE(pipe.writer.Send(R"({"event":"done","item":3})"));
  const std::string cut = Frame("filed 1.2.3") + Frame("filed 4").substr(0, 6);
  WriteBytes(pipe.writer, cut);
  std::vector<std::string> messages;
  EXPECT_TRUE(pipe.reader.ReceiveAvailable(messages));
  EXPECT_EQ(messages, (std::vector<std::string>{"ready", R"({"event":"done","item":3})", "filed 1.2.3"}));
  messages.clear();
  EXPECT_TRUE(pipe.reader.Receive(0, messages)) << "nothing there yet is no end";
  EXPECT_TRUE(messages.empty());
  WriteBytes(pipe.writer, Frame("filed 4").substr(6));
  ASSERT_TRUE(pipe.writer.Send(""));
  pipe.writer.Close();
  EXPECT_EQ(ReceiveToTheEnd(pipe.reader), (std::vector<std::string>{"filed 4", ""}));
  EXPECT_FALSE(pipe.reader.ReceiveAvailable(messages));
}

TEST(MessageChannel, AnyBytesSurviveInAMessage) {
  Pipe pipe;
  const std::string binary = AllByteValues();
  ASSERT_TRUE(pipe.writer.Send(binary));
  ASSERT_TRUE(pipe.writer.Send("two\nlines"));
  ASSERT_TRUE(pipe.writer.Send(std::string(1, '\0')));
  pipe.writer.Close();
  EXPECT_EQ(ReceiveToTheEnd(pipe.reader), (std::vector<std::string>{binary, "two\nlines", std::string(1, '\0')}));
}

// A byte at a time, the prefix cut too: nothing comes out until the last byte.
TEST(MessageChannel, AMessageArrivingAByteAtATimeIsReassembled) {
  Pipe pipe;
  const std::string message = AllByteValues();
  const std::string frame = Frame(message);
  std::vector<std::string> messages;
  for (size_t i = 0; i + 1 < frame.size(); ++i) {
    WriteBytes(pipe.writer, frame.substr(i, 1));
    ASSERT_TRUE(pipe.reader.Receive(0, messages));
    ASSERT_TRUE(messages.empty()) << "after byte " << i << " of " << frame.size();
  }
  WriteBytes(pipe.writer, frame.substr(frame.size() - 1));
  ASSERT_TRUE(pipe.reader.Receive(0, messages));
  EXPECT_EQ(messages, std::vector<std::string>{message});
}

// A message larger than the pipe holds goes in several writes, whole.
TEST(MessageChannel, AMessageLargerThanThePipeArrivesWhole) {
  Pipe pipe;
  const std::string large(1 << 20, 'x');
  std::thread writer([&] {
    EXPECT_TRUE(pipe.writer.Send(large));
    pipe.writer.Close();
  });
  const auto messages = ReceiveToTheEnd(pipe.reader);
  writer.join();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], large);
}

// A prefix over the maximum is a broken channel at once: no waiting for (or allocating) what it declares.
TEST(MessageChannel, ALengthOverTheMaximumBreaksTheChannelWithoutAllocatingIt) {
  Pipe pipe;
  WriteBytes(pipe.writer, Frame("before") + Frame("", static_cast<uint32_t>(MessageChannel::kMaxMessageBytes + 1)));
  largest_allocation = 0;
  std::vector<std::string> messages;
  EXPECT_FALSE(pipe.reader.ReceiveAvailable(messages));
  EXPECT_LT(largest_allocation.load(), size_t{1} << 20);
  EXPECT_EQ(messages, std::vector<std::string>{"before"}) << "what came before the broken prefix is whole";
  WriteBytes(pipe.writer, Frame("after"));
  messages.clear();
  EXPECT_FALSE(pipe.reader.Receive(0, messages)) << "a broken channel stays broken";
  EXPECT_TRUE(messages.empty());
}

TEST(MessageChannel, AMessageOverTheMaximumIsRefused) {
  Pipe pipe;
  const std::string too_large(MessageChannel::kMaxMessageBytes + 1, 'x');
  EXPECT_THROW(pipe.writer.Send(too_large), InternalError);
  EXPECT_THROW(pipe.writer.Post(too_large), InternalError);
  ASSERT_TRUE(pipe.writer.Send("still whole"));
  std::vector<std::string> messages;
  EXPECT_TRUE(pipe.reader.ReceiveAvailable(messages));
  EXPECT_EQ(messages, std::vector<std::string>{"still whole"});
}

// Post never waits: what a full pipe does not take stays queued, in order, until Flush.
TEST(MessageChannel, PostQueuesWhatAFullPipeDoesNotTakeAndLosesNothing) {
  Pipe pipe;
  ASSERT_EQ(::fcntl(pipe.writer.Fd(), F_SETFL, O_NONBLOCK), 0);
  const int capacity = ::fcntl(pipe.writer.Fd(), F_GETPIPE_SZ);
  ASSERT_GT(capacity, 0);
  std::vector<std::string> posted;
  for (size_t i = 0; posted.size() * 100 < 4 * static_cast<size_t>(capacity); ++i) {
    posted.push_back(std::to_string(i) + "\n" + std::string(100, static_cast<char>(i)));
    ASSERT_TRUE(pipe.writer.Post(posted.back())) << "message " << i;
  }
  std::vector<std::string> received;
  ASSERT_TRUE(pipe.reader.ReceiveAvailable(received));
  EXPECT_LT(received.size(), posted.size()) << "the pipe holds a quarter of what was posted";
  ASSERT_TRUE(pipe.writer.Flush(false));
  std::thread reader([&] {
    while (pipe.reader.Receive(-1, received)) {
    }
  });
  EXPECT_TRUE(pipe.writer.Flush(true));
  pipe.writer.Close();
  reader.join();
  EXPECT_EQ(received, posted);
}

TEST(MessageChannel, PostingToAReaderThatIsGoneFails) {
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  Pipe pipe;
  ASSERT_EQ(::fcntl(pipe.writer.Fd(), F_SETFL, O_NONBLOCK), 0);
  pipe.reader.Close();
  EXPECT_FALSE(pipe.writer.Post("filed 1"));
  EXPECT_TRUE(pipe.writer.Flush(true)) << "the queue was dropped: nothing left to write";
  std::signal(SIGPIPE, previous);
  MessageChannel closed;
  EXPECT_FALSE(closed.Post("x"));
  EXPECT_FALSE(closed.Flush(true));
}

// Writer T's message I, up to PIPE_BUF bytes with its prefix, newlines and NULs in it.
std::string SharedPipeMessage(int t, int i) {
  const std::string head = std::to_string(t) + "." + std::to_string(i) + '\0';
  const size_t size = PIPE_BUF - MessageChannel::kPrefixBytes - static_cast<size_t>(i % 8) * 400;
  return head + std::string(size - head.size(), static_cast<char>('\n' + t));
}

// The receiving process's threads share one channel: their messages never interleave.
TEST(MessageChannel, WritersSharingAChannelNeverInterleave) {
  Pipe pipe;
  constexpr int kWriters = 4, kMessages = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kMessages; ++i) EXPECT_TRUE(pipe.writer.Send(SharedPipeMessage(t, i)));
    });
  std::vector<std::string> messages;
  std::thread reader([&] { messages = ReceiveToTheEnd(pipe.reader); });
  for (auto& writer : writers) writer.join();
  pipe.writer.Close();
  reader.join();
  ASSERT_EQ(messages.size(), size_t{kWriters * kMessages});
  std::vector<int> next(kWriters, 0);  // each writer's messages arrive whole and in its order
  for (const auto& message : messages) {
    const int t = std::stoi(message);
    ASSERT_TRUE(t >= 0 && t < kWriters) << message.substr(0, 20);
    ASSERT_EQ(message, SharedPipeMessage(t, next[t])) << message.substr(0, 20);
    ++next[t];
  }
}

TEST(MessageChannel, SendingToAReaderThatIsGoneFails) {
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  Pipe pipe;
  pipe.reader.Close();
  EXPECT_FALSE(pipe.writer.Send("filed 1"));
  std::signal(SIGPIPE, previous);
  MessageChannel closed;
  EXPECT_FALSE(closed.Send("x"));
  std::vector<std::string> messages;
  EXPECT_FALSE(closed.Receive(0, messages));
}

}  // namespace
}  // namespace medpipe::cli
