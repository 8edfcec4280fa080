#include "batch/stop_signal.h"

#include <csignal>

namespace medpipe::cli {
namespace {

volatile std::sig_atomic_t stop_requested = 0;

void OnStopSignal(int signal_number) {
  stop_requested = 1;
  std::signal(signal_number, SIG_DFL);  // the next one is not caught
}

}  // namespace

void InstallStopHandlers() {
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
}

bool StopRequested() { return stop_requested != 0; }

}  // namespace medpipe::cli
