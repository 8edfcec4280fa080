#pragma once
// How models run, as plain values without LibTorch, so that the command line and the supervisor can
// hold and check them without pulling LibTorch in.
#include <cstdint>
#include <string>

namespace medpipe::inference {

// Auto is only ever asked for: the model then runs in the reduced precision this device computes
// fastest (CPU: bf16 with AMX, fp32 otherwise; CUDA: fp16, else bf16) if it passes the golden check,
// else in fp32 (LoadedModel::ActivePrecision says which).
enum class Precision { Fp32, Fp16, Bf16, Auto };

// "fp32", "fp16", "bf16" or "auto"; throws ConfigError ("precision") otherwise.
Precision ParsePrecision(const std::string& text);
const char* PrecisionName(Precision precision);

struct PredictOptions {
  double overlap = 0.5;    // fraction of a patch shared with its neighbour
  int64_t batch_size = 2;  // patches per forward pass
  bool mirror = false;     // average over flips of the manifest's mirror_axes
};

// Throws ConfigError naming the setting that is out of range ("overlap", "batch_size") and its value.
void CheckPredictOptions(const PredictOptions& options);

}  // namespace medpipe::inference
