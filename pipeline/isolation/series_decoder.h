#pragma once
// Untrusted files are decoded outside the process that uses the result (README: Isolation). Each
// decoder process is forked when the pool is made, before any model is loaded or thread started; for
// every series it forks a disposable child that reads and decodes the files under a time and memory
// limit straight into shared memory (a memfd the caller then maps: no copy) and re-encodes the first
// header (dicom::SourceSeries).
// An abort(), a crash, a hang or runaway memory there costs that series alone, and the process that
// holds the models never parses the archive's bytes.
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "isolation/child_process.h"
#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_loader.h"

namespace medpipe::cli {

struct DecodeLimits {
  double timeout_s = 0;        // a series taking longer is abandoned; 0: no limit
  uint64_t max_added_bytes = 0;  // address space a child may add to what it had at the fork; 0: no limit
};

// One series as a child decoded it.
struct DecodedSeries {
  Volume volume;
  dicom::LoadTimings timings;
  // What isolation costs: the request's wall-clock milliseconds beyond decoding and assembling
  // (forking, re-encoding the header, handing over the voxels).
  double handover_ms = 0;
  std::string header;  // the first file's header, re-encoded (dicom::SourceSeries::header)
};

// One decoder process; one caller at a time.
class DecoderProcess {
 public:
  explicit DecoderProcess(const DecodeLimits& limits);
  ~DecoderProcess();
  DecoderProcess(const DecoderProcess&) = delete;
  DecoderProcess& operator=(const DecoderProcess&) = delete;

  // SERIES must have existed, unchanged, when this object was made: the request names it by its
  // address, which the forked decoder shares. Throws the child's error as the class it had there
  // (IoError for a file gone since the index, DicomError for one that cannot be decoded, ...), and
  // DicomError for a child that ended or ran out of time before it answered.
  // Should the decoder process itself be gone, this process exits (kExitCannotStart): forking a new
  // one from a process that holds models and threads is not safe, and the supervisor starts a new worker.
  // VOLUME picks one volume of a 4-D series (dicom::LoadSeriesVolume).
  DecodedSeries Decode(const dicom::Series& series, size_t volume = 0);

 private:
  ChildProcess process_;
  int socket_ = -1;
};

// A decoder process per thread that decodes at once, lent to whichever thread asks. A pool of none
// serves a run that decodes nothing (--dry-run); Decode then throws.
class SeriesDecoder {
 public:
  SeriesDecoder(unsigned processes, const DecodeLimits& limits);
  DecodedSeries Decode(const dicom::Series& series, size_t volume = 0);

 private:
  std::vector<std::unique_ptr<DecoderProcess>> processes_;
  std::vector<DecoderProcess*> idle_;
  std::mutex mutex_;
  std::condition_variable returned_;
};

}  // namespace medpipe::cli
