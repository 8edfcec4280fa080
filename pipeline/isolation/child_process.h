#pragma once
// Child processes of a run (the worker, decoder processes and their disposable children): made so
// that they never outlive their parent, their memory, and how they ended, in words for result.json
// and the log.
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>

namespace medpipe::cli {

// How a child process ended, from its waitpid() status.
struct ChildExit {
  int status = 0;  // as waitpid() gave it
  bool Exited() const;        // it called exit (with any code)
  int ExitCode() const;       // its exit code; -1 when it did not exit
  int Signal() const;         // the signal that killed it; 0 when none did
  std::string Describe() const;  // DescribeExit(status)
};

// A child process of this one, owned: the only way this program forks (README: Isolation).
// Fork() flushes std::cout and std::cerr first (or the child would write the parent's buffered text
// again); the child is killed when its parent dies (PR_SET_PDEATHSIG) and exits at once if the parent
// died before that was set. In the parent the object owns the pid: its destructor kills (SIGKILL) and
// reaps a child still running, so none is left running or as a zombie. In the child, InChild() is
// true and the object owns nothing; the child ends with _exit(), never by returning.
// Movable, not copyable; one thread at a time.
class ChildProcess {
 public:
  ChildProcess() = default;  // no child
  // Forks; throws IoError when it cannot.
  static ChildProcess Fork();

  ~ChildProcess();  // Kill() and Wait() for a child not yet reaped
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;  // this one's child is killed and reaped first
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool InChild() const { return in_child_; }
  // The child's pid (kept after it was reaped, for the log); -1 for none, 0 in the child.
  pid_t Pid() const { return pid_; }
  // A child was forked and is not reaped yet.
  // Not in a process forked from the owner: a copy there neither signals nor waits for its child.
  bool Running() const { return pid_ > 0 && !exit_ && owner_ == ::getpid(); }

  // Waits for the child to end, through signals that interrupt waiting, and reaps it; later calls
  // return the same. A ChildProcess with no child returns exit code 0.
  ChildExit Wait();
  // How the child ended, reaping it, when it has ended; nothing while it runs.
  std::optional<ChildExit> TryWait();
  // Sends SIGNAL to a child not yet reaped; true when sent.
  bool Signal(int signal);
  bool Kill() { return Signal(SIGKILL); }

 private:
  pid_t pid_ = -1;
  pid_t owner_ = -1;  // the process that forked it
  bool in_child_ = false;
  std::optional<ChildExit> exit_;
};

// A process's memory from /proc/PID/statm (PID "self": this one), in bytes; zeros when it cannot be read.
struct ProcessMemory {
  uint64_t mapped = 0;    // virtual memory, what RLIMIT_AS bounds
  uint64_t resident = 0;  // in RAM
};
ProcessMemory MemoryOf(const std::string& pid);

// Bounds this process's address space (RLIMIT_AS) to what it has mapped now plus MAX_ADDED_BYTES;
// 0: no bound. Not under AddressSanitizer, which reserves terabytes for its shadow memory.
void BoundAddressSpace(uint64_t max_added_bytes);

// From a waitpid() status: "" for exit code 0, "exit code N", or "killed by signal N (Name)".
std::string DescribeExit(int wait_status);

}  // namespace medpipe::cli
