#pragma once
#include <cstdint>
#include <vector>

namespace medpipe::synth {

// One greyscale frame, 16 bits allocated; signed values are stored as their two's complement bits.
struct GreyImage {
  int columns = 0;
  int rows = 0;
  int bits_stored = 16;
  bool is_signed = false;
  std::vector<uint16_t> pixels;  // row-major, columns * rows
};

}  // namespace medpipe::synth
