#pragma once
// Child processes of a run (the worker, decoder processes and their disposable children): made so
// that they never outlive their parent, their memory, and how they ended, in words for result.json
// and the log.
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace medpipe::cli {

// fork() after flushing std::cout and std::cerr (or the child would write the parent's buffered text
// again). The child is killed when its parent dies (PR_SET_PDEATHSIG) and exits at once if the parent
// died before that was set. Returns 0 in the child, its pid in the parent; throws IoError.
pid_t ForkChild();

// A process's memory from /proc/PID/statm (PID "self": this one), in bytes; zeros when it cannot be read.
struct ProcessMemory {
  uint64_t mapped = 0;    // virtual memory, what RLIMIT_AS bounds
  uint64_t resident = 0;  // in RAM
};
ProcessMemory MemoryOf(const std::string& pid);

// Bounds this process's address space (RLIMIT_AS) to what it has mapped now plus MAX_ADDED_BYTES;
// 0: no bound. Not under AddressSanitizer, which reserves terabytes for its shadow memory.
void BoundAddressSpace(uint64_t max_added_bytes);

// Waits for the child PID to end, through signals that interrupt waiting; returns its waitpid() status.
int WaitForExit(pid_t pid);

// From a waitpid() status: "" for exit code 0, "exit code N", or "killed by signal N (Name)".
std::string DescribeExit(int wait_status);

}  // namespace medpipe::cli
