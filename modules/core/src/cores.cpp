#include "medpipe/core/cores.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace medpipe {

unsigned UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace medpipe
