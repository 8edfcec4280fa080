// Child processes of a run, as their parent waits for them and lets go of them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <type_traits>

#include "isolation/child_process.h"

namespace medpipe::cli {
namespace {

static_assert(!std::is_copy_constructible_v<ChildProcess> && !std::is_copy_assignable_v<ChildProcess>);
static_assert(std::is_nothrow_move_constructible_v<ChildProcess> && std::is_nothrow_move_assignable_v<ChildProcess>);

// A child that sleeps until it is killed.
ChildProcess Sleeper() {
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    ::sleep(60);
    ::_exit(0);
  }
  return child;
}

// No process PID exists any more: not running, not a zombie waiting to be reaped.
void ExpectGone(pid_t pid) {
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "the child was not reaped";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(::kill(pid, 0), -1) << "the child still exists";
}

// A signal whose handler was installed without SA_RESTART (as a library may do) makes a blocking
// waitpid() return EINTR; the parent must still learn how its child ended, and reap it.
TEST(ChildProcess, WaitingOutlastsSignalsThatInterruptIt) {
  struct sigaction ticking = {}, previous = {};
  ticking.sa_handler = [](int) {};
  ::sigemptyset(&ticking.sa_mask);
  ASSERT_EQ(::sigaction(SIGALRM, &ticking, &previous), 0);
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    ::usleep(300'000);
    ::_exit(7);
  }
  const itimerval every_10_ms{{0, 10'000}, {0, 10'000}}, off{};
  ::setitimer(ITIMER_REAL, &every_10_ms, nullptr);
  const ChildExit ended = child.Wait();
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &previous, nullptr);
  EXPECT_EQ(ended.Describe(), "exit code 7");
  EXPECT_FALSE(child.Running());
  ExpectGone(child.Pid());
}

TEST(ChildProcess, WaitReportsTheExitCode) {
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) ::_exit(3);
  EXPECT_GT(child.Pid(), 0);
  const ChildExit ended = child.Wait();
  EXPECT_TRUE(ended.Exited());
  EXPECT_EQ(ended.ExitCode(), 3);
  EXPECT_EQ(ended.Signal(), 0);
  EXPECT_EQ(ended.Describe(), "exit code 3");
  EXPECT_EQ(child.Wait().ExitCode(), 3) << "a second Wait returns the same";
  ExpectGone(child.Pid());

  ChildProcess fine = ChildProcess::Fork();
  if (fine.InChild()) ::_exit(0);
  EXPECT_EQ(fine.Wait().Describe(), "");
}

TEST(ChildProcess, WaitReportsTheSignalThatKilledIt) {
  ChildProcess child = Sleeper();
  EXPECT_FALSE(child.TryWait()) << "it is still running";
  EXPECT_TRUE(child.Signal(SIGTERM));
  const ChildExit ended = child.Wait();
  EXPECT_FALSE(ended.Exited());
  EXPECT_EQ(ended.ExitCode(), -1);
  EXPECT_EQ(ended.Signal(), SIGTERM);
  EXPECT_EQ(ended.Describe(), "killed by signal 15 (" + std::string(::strsignal(SIGTERM)) + ")");
  EXPECT_FALSE(child.Signal(SIGKILL)) << "a reaped child is not signalled";

  ChildProcess aborting = ChildProcess::Fork();
  if (aborting.InChild()) ::abort();
  std::optional<ChildExit> polled;
  for (int i = 0; i < 500 && !(polled = aborting.TryWait()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(polled);
  EXPECT_EQ(polled->Signal(), SIGABRT);
  ExpectGone(aborting.Pid());
}

// The parent lets go of a child still running (an exception, an early return): the child is killed
// and reaped, neither left running nor a zombie.
TEST(ChildProcess, AChildThatOutlivesItsObjectIsKilledAndReaped) {
  pid_t pid = -1;
  {
    ChildProcess child = Sleeper();
    pid = child.Pid();
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(child.Running());
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  ExpectGone(pid);
}

TEST(ChildProcess, MovingHandsOverTheChild) {
  ChildProcess first = Sleeper();
  const pid_t first_pid = first.Pid();
  ChildProcess moved(std::move(first));
  EXPECT_FALSE(first.Running());  // NOLINT(bugprone-use-after-move): a moved-from object owns nothing
  EXPECT_EQ(first.Wait().ExitCode(), 0);
  EXPECT_TRUE(moved.Running());
  EXPECT_EQ(moved.Pid(), first_pid);

  ChildProcess second = Sleeper();
  const pid_t second_pid = second.Pid();
  moved = std::move(second);  // the first child, still running, is killed and reaped
  ExpectGone(first_pid);
  EXPECT_EQ(moved.Pid(), second_pid);
  EXPECT_TRUE(moved.Running());
  EXPECT_EQ(moved.Kill(), true);
  EXPECT_EQ(moved.Wait().Signal(), SIGKILL);
}

// A process forked later has a copy of the object in its memory; letting go of it there must not kill
// its parent's child.
TEST(ChildProcess, ACopyInAnotherForkedProcessLeavesTheChildAlone) {
  ChildProcess sleeper = Sleeper();
  ChildProcess other = ChildProcess::Fork();
  if (other.InChild()) {
    int code;
    {
      ChildProcess taken(std::move(sleeper));
      code = taken.Running() || taken.Kill() ? 1 : 0;
    }
    ::_exit(code);
  }
  EXPECT_EQ(other.Wait().Describe(), "");
  EXPECT_FALSE(sleeper.TryWait()) << "the parent's child was killed by another process's copy";
  EXPECT_TRUE(sleeper.Running());
}

TEST(ChildProcess, NoChildIsNothingToWaitFor) {
  ChildProcess none;
  EXPECT_FALSE(none.Running());
  EXPECT_FALSE(none.InChild());
  EXPECT_EQ(none.Pid(), -1);
  EXPECT_FALSE(none.Kill());
  EXPECT_EQ(none.Wait().Describe(), "");
}

}  // namespace
}  // namespace medpipe::cli
