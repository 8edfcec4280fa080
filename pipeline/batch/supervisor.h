#pragma once
// A run's studies are processed by a worker process (worker.h) that loads the models once and keeps
// them resident. This process only hands out studies and keeps the books, so a library abort(), a
// crash, the OOM killer or a hung study costs that study alone: the worker is replaced, the study is
// recorded as failed (OUT/studies/<id>/result.json with the reason), and the others go on.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <vector>

#include "batch/progress.h"
#include "batch/resume.h"
#include "batch/work_list.h"

namespace medpipe::cli {

struct SupervisorOptions {
  size_t max_inflight = 1;     // studies handed to the worker at once: bounds its memory
  double study_timeout_s = 0;  // a study running longer is abandoned (its worker killed); 0: no limit
  bool fail_fast = false;      // stop handing out studies after the first failure
  double max_worker_gib = 0;   // the worker is killed when its resident memory exceeds this; 0: no limit
  bool deidentify = false;     // the results of studies the worker could not finish are recorded de-identified too
};

// Runs in the forked child: gets the pipe ends to read item numbers from and write events to, and
// returns the child's exit code, reporting its own fatal errors (the command line's ReportFatal). The
// child shares this process's memory as it was at the fork.
using WorkerMain = std::function<int(int in_fd, int out_fd)>;

struct SupervisedRun {
  int start_failure = 0;      // non-zero: no worker became ready; the worker's exit code
  bool stopped = false;       // a stop signal or --fail-fast ended the run before every study was done
  bool workers_lost = false;  // workers kept dying or no longer started: the run ended early
};

// Told of each study's outcome as it is recorded (after its results are published).
using StudyRecorded = std::function<void(const WorkItem& item, Outcome outcome)>;

SupervisedRun Supervise(const std::vector<WorkItem>& items, const WorkerMain& worker_main, const SupervisorOptions& options,
                        const ResultStore& store, BatchProgress& progress, const StudyRecorded& on_recorded);

}  // namespace medpipe::cli
