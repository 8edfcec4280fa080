#pragma once
// The form of a TorchScript module that runs fastest on the CPU (docs/benchmarks.md, issue 26).
#include <string>

#include <torch/script.h>

#include "medpipe/inference/settings.h"

namespace medpipe::inference {

// Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX-BF16), where oneDNN's bf16
// convolutions beat fp32; elsewhere oneDNN emulates bf16 and it is slower than fp32.
bool CpuHasNativeBf16();
// Whether this CPU has AMX-BF16 tiles. Only there is bf16 expected to beat fp32: with AVX-512 BF16
// alone, oneDNN's bf16 convolutions without prepacked weights were no faster than fp32's prepacked ones.
bool CpuHasAmxBf16();

// SAVED (float32, on the CPU, not modified) frozen for inference in PRECISION (Fp32 or Bf16). In fp32,
// a U-Net whose every operator oneDNN runs becomes one oneDNN network (onednn_network.h); otherwise
// transposed convolutions whose stride equals their kernel become a 1x1 convolution and a voxel
// shuffle, then oneDNN-prepacked convolutions where LibTorch applies them (fp32). METHOD is the one
// the caller runs (an imported nnU-Net model's fold_logits); it is kept and rewritten like forward.
// A module that cannot be frozen runs as it is, in fp32.
torch::jit::Module CpuModule(const torch::jit::Module& saved, Precision precision, const std::string& method = "forward");

// Transposed convolutions (2-D and 3-D) in GRAPH with constant weights, stride equal to the kernel,
// no padding, dilation 1 and one group, replaced by the equivalent 1x1 convolution to
// out_channels * kernel voxels and a reshuffle: LibTorch 1.13 runs transposed convolutions on the CPU
// through im2col and the BLAS, and refuses them in bf16. Returns how many it replaced.
int ReplaceStridedTransposedConvolutions(torch::jit::Graph& graph);

// The intra-op threads of LibTorch on the calling thread (OpenMP keeps the count per thread): the
// usable cores (the process's CPU affinity). Debian's LibTorch 1.13 defaults to one.
void UseCpuThreads();

}  // namespace medpipe::inference
