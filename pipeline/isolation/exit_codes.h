#pragma once
// How medpipe's processes end: the run's exit code (README: the contract with schedulers), which its
// child processes use too, so that a child that cannot start says so in the same terms.
namespace medpipe::cli {

// Exit codes documented in README: the contract with schedulers.
constexpr int kExitOk = 0;
constexpr int kExitSomeFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCannotStart = 3;
constexpr int kExitStopped = 4;  // SIGTERM/SIGINT: finished studies kept, a rerun resumes

}  // namespace medpipe::cli
