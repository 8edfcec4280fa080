#pragma once
// U-Nets run by oneDNN directly, activations kept in oneDNN's blocked layout from the first convolution
// to the last (issue 26). LibTorch 1.13's frozen graphs reorder every convolution's input into that layout
// and its output back, around instance norms oneDNN-in-LibTorch cannot run: 0.9 s of a 5 s batch of the
// 31 M U-Net (docs/benchmarks.md).
#include <string>

#include <torch/script.h>

namespace medpipe::inference {

// Rewrites METHOD of the frozen fp32 MODULE into one call of a oneDNN network compiled from its graph,
// when every node of that graph is one this network runs: 2-D and 3-D convolutions and transposed
// convolutions (constant weights, one group), instance norms over the input's statistics, (leaky) ReLUs,
// channel concatenations, lists of tensors (skip connections), a final stack, and the shape checks scripting
// leaves around them. Returns false, leaving MODULE as it was, and says why in WHY_NOT otherwise.
bool RunMethodWithOnednn(torch::jit::Module& module, const std::string& method, std::string* why_not = nullptr);

// Whether this build has the network: only against LibTorch 1.x, whose oneDNN is Debian's (a CUDA LibTorch 2
// links its own oneDNN 3, which Debian's oneDNN 2 beside it would collide with).
bool OnednnNetworkBuilt();

}  // namespace medpipe::inference
