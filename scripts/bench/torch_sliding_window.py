#!/usr/bin/python3
"""Plain-PyTorch sliding-window inference with Gaussian weighting (nnU-Net style), the reference
that medpipe's C++ engine is timed against. `python3 torch_sliding_window.py` runs self_check()."""
import itertools
import math
from typing import List, Sequence, Tuple

import torch


def compute_steps(size: int, patch: int, overlap: float) -> List[int]:
    """Window starts along one axis, as nnU-Net's compute_steps_for_sliding_window."""
    assert size >= patch, f"volume ({size}) smaller than patch ({patch}); pad first"
    if size == patch:
        return [0]
    target_step = patch * (1.0 - overlap)
    num_steps = int(math.ceil((size - patch) / target_step)) + 1
    actual_step = (size - patch) / (num_steps - 1)
    # Python's round() rounds half to even, as nnU-Net's np.round does.
    return [int(round(actual_step * i)) for i in range(num_steps)]


def gaussian_importance(patch: Sequence[int]) -> torch.Tensor:
    """nnU-Net's compute_gaussian: sigma = patch/8, centred on patch//2, max 1, zeros -> smallest non-zero.

    Written analytically (separable exp) like medpipe's C++; scipy's gaussian_filter of a delta gives the
    same map after max-normalisation because its 4-sigma truncation radius (patch/2) covers the patch.
    """
    g = torch.ones((), dtype=torch.float64)
    for length in patch:
        position = torch.arange(length, dtype=torch.float64) - (length // 2)
        sigma = length / 8.0
        g = g.unsqueeze(-1) * torch.exp(-position ** 2 / (2.0 * sigma * sigma))
    g = g / g.max()
    g = torch.where(g > 0, g, g[g > 0].min())  # a zero weight would divide by zero at the borders
    return g.to(torch.float32)


def predict(model: torch.nn.Module, volume: torch.Tensor, patch: Tuple[int, int, int] = (128, 128, 128),
            overlap: float = 0.5, batch_size: int = 2, dtype: torch.dtype = torch.float32,
            device="cuda") -> torch.Tensor:
    """Sliding-window logits for volume [C, Z, Y, X] (each axis >= patch). Returns float32 [K, Z, Y, X] on device.

    Converts `model` in place (nn.Module.to); keep an fp32 copy if you need the exact weights back.
    """
    device = torch.device(device)
    model = model.to(device=device, dtype=dtype).eval()
    volume = volume.to(device)
    spatial = volume.shape[1:]
    gaussian = gaussian_importance(patch).to(device)
    corners = list(itertools.product(*(compute_steps(s, p, overlap) for s, p in zip(spatial, patch))))
    windows = [tuple(slice(c, c + p) for c, p in zip(corner, patch)) for corner in corners]

    logits = None  # allocated once the first batch tells us K
    weights = torch.zeros(spatial, dtype=torch.float32, device=device)
    with torch.inference_mode():
        for first in range(0, len(windows), batch_size):
            batch_windows = windows[first:first + batch_size]
            batch = torch.stack([volume[(slice(None),) + w] for w in batch_windows]).to(dtype)
            out = model(batch).float()
            if logits is None:
                logits = torch.zeros((out.shape[1],) + tuple(spatial), dtype=torch.float32, device=device)
            for w, o in zip(batch_windows, out):
                logits[(slice(None),) + w] += o * gaussian
                weights[w] += gaussian
    return logits / weights


def self_check() -> None:
    """A pointwise model gives the same answer windowed or whole, whatever the weights: checks the
    window placement, accumulation and normalisation (not the Gaussian's shape)."""
    # Steps as nnU-Net computes them.
    assert compute_steps(128, 128, 0.5) == [0]
    assert compute_steps(300, 128, 0.5) == [0, 57, 115, 172]
    assert compute_steps(193, 128, 0.5) == [0, 32, 65]  # 32.5 rounds half to even, like np.round
    assert compute_steps(512, 128, 0.5) == [0, 64, 128, 192, 256, 320, 384]
    g = gaussian_importance((128, 128, 128))
    assert g.max() == 1.0 and g.min() > 0 and g[64, 64, 64] == 1.0

    torch.manual_seed(0)
    model = torch.nn.Conv3d(1, 2, 1)
    volume = torch.randn(1, 45, 38, 53)  # [C, Z, Y, X], bigger than the patch on every axis, uneven steps
    with torch.no_grad():
        whole = model(volume[None])[0]
    windowed = predict(model, volume, patch=(32, 24, 32), overlap=0.5, batch_size=3, device="cpu")
    diff = (windowed - whole).abs().max().item()
    print(f"self_check: windowed vs whole-image max abs diff {diff:.3e} over {tuple(volume.shape)}")
    assert windowed.shape == whole.shape and windowed.dtype == torch.float32
    assert diff < 1e-5, diff
    print("self_check: ok")


if __name__ == "__main__":
    self_check()
