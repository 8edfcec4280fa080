// Scan and index of a small archive: grouping, splitting and slice ordering meet hostile geometry.
#include "fuzz_paths.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return medpipe::fuzz::Fuzz(medpipe::fuzz::Target::Index, data, size);
}
