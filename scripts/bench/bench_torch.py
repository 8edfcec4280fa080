#!/usr/bin/env python3
"""Time plain-PyTorch sliding-window inference of a TorchScript model, per precision; one JSON line each.

    python3 scripts/bench/bench_torch.py --model DIR/model.pt --size 512 512 300 --patch 128 128 128 \\
        --batch-size 2 --repeats 3 --device cuda --dtypes fp32 bf16 fp16

--size and --patch are x y z, as in medpipe's manifest; tensors are [C, Z, Y, X]. Each timed prediction goes
from a CPU volume to CPU logits, as medpipe's SlidingWindowPass does (no mirroring).
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch

from torch_sliding_window import compute_steps, predict

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def ct_like_volume(x: int, y: int, z: int, seed: int = 0) -> torch.Tensor:
    """Deterministic [1, z, y, x] phantom in HU (air, a soft-tissue body, bone-like spheres, noise),
    normalised as the manifest says: clip to [-1000, 1000], then (v - 0) / 500."""
    g = torch.Generator().manual_seed(seed)
    zz, yy, xx = torch.meshgrid(torch.linspace(-1, 1, z), torch.linspace(-1, 1, y), torch.linspace(-1, 1, x),
                                indexing="ij")
    hu = torch.full((z, y, x), -1000.0)
    hu[(xx / 0.8) ** 2 + (yy / 0.6) ** 2 < 1] = 40.0  # elliptic body cylinder along z
    for _ in range(6):
        cx, cy, cz = (torch.rand(3, generator=g) - 0.5).tolist()
        r = 0.05 + 0.1 * torch.rand(1, generator=g).item()
        hu[(xx - cx) ** 2 + (yy - cy) ** 2 + (zz - cz) ** 2 < r * r] = 700.0
    hu += 30.0 * torch.randn(hu.shape, generator=g)
    return (hu.clamp(-1000, 1000) / 500.0)[None]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="TorchScript file (model.pt)")
    parser.add_argument("--size", type=int, nargs=3, default=[512, 512, 300], metavar=("X", "Y", "Z"))
    parser.add_argument("--patch", type=int, nargs=3, default=[128, 128, 128], metavar=("X", "Y", "Z"))
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads (torch.set_num_threads); 0 keeps torch's default")
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=["fp32", "bf16", "fp16"])
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = "cpu"
    dtypes = [d for d in args.dtypes if cuda or d != "fp16"]
    if len(dtypes) < len(args.dtypes):
        print("skipping fp16 on the CPU", file=sys.stderr)

    x, y, z = args.size
    volume = ct_like_volume(x, y, z)
    patch = tuple(reversed(args.patch))  # (z, y, x)
    patches = math.prod(len(compute_steps(s, p, args.overlap)) for s, p in zip(volume.shape[1:], patch))

    def run(model: torch.nn.Module, dtype: torch.dtype) -> torch.Tensor:
        return predict(model, volume, patch, args.overlap, args.batch_size, dtype, device).cpu()

    def measure(model: torch.nn.Module, dtype: torch.dtype, timed: bool):
        """Returns (CPU logits, per-repeat seconds)."""
        logits = run(model, dtype)  # warm-up (cuDNN autotuning for every batch shape), and the result
        times = []
        if timed:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(args.repeats):
                sync(device)
                start = time.perf_counter()
                logits = run(model, dtype)
                sync(device)
                times.append(time.perf_counter() - start)
        return logits, times

    reference = None  # fp32 softmax probabilities and argmax, on the CPU so they do not count in later peaks
    # fp32 first: it is the reference. If it was not asked for, it still runs once, untimed.
    for name in ["fp32"] + [d for d in dtypes if d != "fp32"]:
        timed = name in dtypes
        record = {"impl": "pytorch", "dtype": name}
        try:
            # A fresh fp32 load per dtype: predict() converts the model in place, and fp16 weights made
            # from bf16 ones would carry bf16 rounding.
            model = torch.jit.load(args.model, map_location=device).eval()
            logits, times = measure(model, DTYPES[name], timed)
            del model
            probs = torch.softmax(logits, dim=0)
            if name == "fp32":
                reference = (probs, probs.argmax(dim=0))
            record["ms_per_volume"] = round(1000 * statistics.median(times), 1) if times else None
            record["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if cuda else None
            if reference is not None:
                record["max_prob_diff_vs_fp32"] = (probs - reference[0]).abs().max().item()
                record["argmax_mismatch"] = (probs.argmax(dim=0) != reference[1]).double().mean().item()
        except RuntimeError as e:  # e.g. out of memory, or a kernel this build lacks: report it, go on
            record["error"] = str(e).strip().splitlines()[-1]
        if timed:
            record.update({"patches": patches, "batch_size": args.batch_size, "device": device_name,
                           "size_xyz": list(args.size), "patch_xyz": list(args.patch),
                           "tf32": torch.backends.cudnn.allow_tf32 if cuda else False,
                           "threads": torch.get_num_threads(), "torch": torch.__version__})
            print(json.dumps(record), flush=True)
        if cuda:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
