#include "child_process.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "medpipe/core/error.h"

namespace medpipe::cli {

pid_t ForkChild() {
  std::cout.flush();
  std::cerr.flush();
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) throw IoError("fork", std::strerror(errno));
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExitCannotStart);
  }
  return child;
}

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

int WaitForExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status))
    return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" + ::strsignal(WTERMSIG(wait_status)) + ")";
  const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  return code == 0 ? "" : "exit code " + std::to_string(code);
}

}  // namespace medpipe::cli
