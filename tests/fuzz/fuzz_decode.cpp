// Pixel decode of a file whose header passed: every codec must stay inside the buffer the header sized.
#include "fuzz_paths.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return medpipe::fuzz::Fuzz(medpipe::fuzz::Target::Decode, data, size);
}
