#include "isolation/child_process.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <utility>

#include "isolation/exit_codes.h"
#include "medpipe/core/error.h"

namespace medpipe::cli {

namespace {

// Waits for PID through signals that interrupt waiting; its waitpid() status, or nothing when it is
// not a child of this process (any more).
std::optional<int> WaitFor(pid_t pid) {
  int status = 0;
  pid_t got;
  while ((got = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (got == pid) return status;
  return std::nullopt;
}

}  // namespace

bool ChildExit::Exited() const { return WIFEXITED(status); }
int ChildExit::ExitCode() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
int ChildExit::Signal() const { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }
std::string ChildExit::Describe() const { return DescribeExit(status); }

ChildProcess ChildProcess::Fork() {
  std::cout.flush();
  std::cerr.flush();
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) throw IoError("fork", std::strerror(errno));
  ChildProcess process;
  process.pid_ = child;
  process.owner_ = parent;
  if (child == 0) {
    process.in_child_ = true;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExitCannotStart);
  }
  return process;
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    Kill();
    Wait();
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      owner_(std::exchange(other.owner_, -1)),
      in_child_(std::exchange(other.in_child_, false)), exit_(std::exchange(other.exit_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (Running()) {
      Kill();
      Wait();
    }
    pid_ = std::exchange(other.pid_, -1);
    owner_ = std::exchange(other.owner_, -1);
    in_child_ = std::exchange(other.in_child_, false);
    exit_ = std::exchange(other.exit_, std::nullopt);
  }
  return *this;
}

ChildExit ChildProcess::Wait() {
  if (!Running()) return exit_.value_or(ChildExit{});
  // A child someone else reaped (it cannot be waited for) counts as killed, never as a success.
  exit_ = ChildExit{WaitFor(pid_).value_or(SIGKILL)};
  return *exit_;
}

std::optional<ChildExit> ChildProcess::TryWait() {
  if (!Running()) return exit_;
  int status = 0;
  pid_t got;
  while ((got = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (got == 0) return std::nullopt;
  exit_ = ChildExit{got == pid_ ? status : SIGKILL};
  return exit_;
}

bool ChildProcess::Signal(int signal) { return Running() && ::kill(pid_, signal) == 0; }

ProcessMemory MemoryOf(const std::string& pid) {
  std::ifstream statm("/proc/" + pid + "/statm");
  uint64_t mapped_pages = 0, resident_pages = 0;
  statm >> mapped_pages >> resident_pages;
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
  return {mapped_pages * page, resident_pages * page};
}

void BoundAddressSpace(uint64_t max_added_bytes) {
#if !defined(__SANITIZE_ADDRESS__)
  if (max_added_bytes == 0) return;
  const rlim_t bound = MemoryOf("self").mapped + max_added_bytes;
  const rlimit limit{bound, bound};
  ::setrlimit(RLIMIT_AS, &limit);
#else
  (void)max_added_bytes;
#endif
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status))
    return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" + ::strsignal(WTERMSIG(wait_status)) + ")";
  const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  return code == 0 ? "" : "exit code " + std::to_string(code);
}

}  // namespace medpipe::cli
