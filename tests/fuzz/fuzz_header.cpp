// Header pass on one file: DCMTK parsing with values over 4 KiB left on disk, then our layout checks.
#include "fuzz_paths.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return medpipe::fuzz::Fuzz(medpipe::fuzz::Target::Header, data, size);
}
