#pragma once
// Fail-points: MEDPIPE_FAILPOINT=<step> makes the process exit at once, with kFailPointExitCode,
// when it reaches that named step, so tests can stop a run between any two steps of publishing a
// study (README: "Atomic publication") instead of only at random moments. MEDPIPE_FAILPOINT=<step>:throw
// makes it throw IoError there instead: a failure the caller must handle, as a full disk would be.
#include <string_view>

namespace medpipe {

constexpr int kFailPointExitCode = 86;

// Exits (without unwinding or flushing anything) when MEDPIPE_FAILPOINT names STEP; throws for STEP:throw.
void FailPoint(std::string_view step);

}  // namespace medpipe
