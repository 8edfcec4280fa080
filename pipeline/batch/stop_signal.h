#pragma once
// SIGTERM and SIGINT ask a run to stop taking new studies; the study in flight finishes and progress
// is flushed, so a scheduler can pre-empt a night run safely. A second signal ends the process at once.
namespace medpipe::cli {

void InstallStopHandlers();
bool StopRequested();

}  // namespace medpipe::cli
