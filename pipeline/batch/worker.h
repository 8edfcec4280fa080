#pragma once
// The worker process of a run (see supervisor.h): it reads item numbers, one per line, from IN_FD
// and runs those studies through overlapping stages: a pool of load threads (decode, preprocess),
// one thread for the device (inference), a pool of export threads (postprocess, write, commit).
// On OUT_FD it writes one JSON object per line:
//   {"event":"ready","settings_sha256":...,"models":[...]}           once, after the models loaded
//   {"event":"start","item":N}                                       a load thread took study N
//   {"event":"done","item":N,"outcome":"ok"|"failed"|"skipped","ms":...,"stages_ms":{...}}
// It exits once IN_FD is closed and every study it took is done.
#include <vector>

#include "batch/study_work.h"
#include "batch/work_list.h"

namespace medpipe::cli {

struct WorkerThreads {
  unsigned load = 1;
  unsigned export_ = 1;
  size_t queue_capacity = 1;  // the supervisor never sends more than --max-inflight studies at once
};

void RunWorker(const std::vector<WorkItem>& items, StudyWork& stages, const WorkerThreads& threads, int in_fd, int out_fd);

}  // namespace medpipe::cli
