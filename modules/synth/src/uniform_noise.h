#pragma once
#include <cstdint>
#include <random>

namespace medpipe::synth {

// Integer noise in [-amplitude, amplitude]. std::mt19937 is specified bit for bit by the standard,
// the <random> distributions are not, so the value mapping is done here to stay portable.
class UniformNoise {
 public:
  UniformNoise(uint32_t seed, int amplitude) : engine_(seed), amplitude_(amplitude) {}

  int Next() {
    const auto range = static_cast<uint32_t>(2 * amplitude_ + 1);
    return static_cast<int>(engine_() % range) - amplitude_;
  }

 private:
  std::mt19937 engine_;
  int amplitude_;
};

}  // namespace medpipe::synth
