// The message format of the pipes between a run's processes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "message_channel.h"

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

// Every message until the writer closes its end.
std::vector<std::string> ReceiveToTheEnd(MessageChannel& reader) {
  std::vector<std::string> messages;
  while (reader.Receive(-1, messages)) {
  }
  return messages;
}

TEST(MessageChannel, MessagesArriveWholeAndInOrderHoweverTheBytesAreCut) {
  Pipe pipe;
  ASSERT_TRUE(pipe.writer.Send("ready"));
  ASSERT_TRUE(pipe.writer.Send(R"({"event":"done","item":3})"));
  const std::string cut = "filed 1.2.3\nfil";
  ASSERT_EQ(::write(pipe.writer.Fd(), cut.data(), cut.size()), static_cast<ssize_t>(cut.size()));
  std::vector<std::string> messages;
  EXPECT_TRUE(pipe.reader.ReceiveAvailable(messages));
  EXPECT_EQ(messages, (std::vector<std::string>{"ready", R"({"event":"done","item":3})", "filed 1.2.3"}));
  messages.clear();
  EXPECT_TRUE(pipe.reader.Receive(0, messages)) << "nothing there yet is no end";
  EXPECT_TRUE(messages.empty());
  ASSERT_EQ(::write(pipe.writer.Fd(), "ed 4\n", 5), 5);
  ASSERT_TRUE(pipe.writer.Send(""));
  pipe.writer.Close();
  EXPECT_EQ(ReceiveToTheEnd(pipe.reader), (std::vector<std::string>{"filed 4", ""}));
  EXPECT_FALSE(pipe.reader.ReceiveAvailable(messages));
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

// The receiving process's threads share one channel: their messages never interleave.
TEST(MessageChannel, WritersSharingAChannelNeverInterleave) {
  Pipe pipe;
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) EXPECT_TRUE(pipe.writer.Send("filed " + std::to_string(t) + "." + std::to_string(i) + std::string(200, 'y')));
    });
  std::vector<std::string> messages;
  std::thread reader([&] { messages = ReceiveToTheEnd(pipe.reader); });
  for (auto& writer : writers) writer.join();
  pipe.writer.Close();
  reader.join();
  ASSERT_EQ(messages.size(), 8000u);
  std::set<std::string> distinct(messages.begin(), messages.end());
  EXPECT_EQ(distinct.size(), 8000u);
  for (const auto& message : messages) EXPECT_EQ(message.size(), message.find('y') + 200) << message.substr(0, 40);
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
