// Child processes of a run, as their parent waits for them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.h"

namespace medpipe::cli {
namespace {

// A signal whose handler was installed without SA_RESTART (as a library may do) makes a blocking
// waitpid() return EINTR; the parent must still learn how its child ended, and reap it.
TEST(ChildProcess, WaitingOutlastsSignalsThatInterruptIt) {
  struct sigaction ticking = {}, previous = {};
  ticking.sa_handler = [](int) {};
  ::sigemptyset(&ticking.sa_mask);
  ASSERT_EQ(::sigaction(SIGALRM, &ticking, &previous), 0);
  const pid_t child = ForkChild();
  if (child == 0) {
    ::usleep(300'000);
    ::_exit(7);
  }
  const itimerval every_10_ms{{0, 10'000}, {0, 10'000}}, off{};
  ::setitimer(ITIMER_REAL, &every_10_ms, nullptr);
  const int status = WaitForExit(child);
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &previous, nullptr);
  EXPECT_EQ(DescribeExit(status), "exit code 7");
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), -1) << "the child was not reaped";
}

}  // namespace
}  // namespace medpipe::cli
