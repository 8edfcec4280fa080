#!/usr/bin/python3
"""nnU-Net 3d_fullres-sized plain 3-D U-Net with random weights, for timing medpipe against PyTorch.

Run with Debian's torch 1.13 (/usr/bin/python3) to export:
    /usr/bin/python3 scripts/lib/unet3d.py --out DIR [--classes 2] [--seed 0]
writes DIR/model.pt (TorchScript), DIR/manifest.json and DIR/architecture.json (parameters, FLOPs per patch
counted from the layers); then `medpipe model seal DIR` fills the golden vector.
"""
import argparse
import json
import os
from typing import List, Sequence

import torch
from torch import nn

from training import fix_hash_seed, parameter_count, sha256_file


# Smallest cube the network accepts: five halvings leave 2^3 at the bottleneck. At 32^3 the bottleneck is
# 1 voxel and InstanceNorm refuses it ("Expected more than 1 spatial element"), in eager and TorchScript alike.
GOLDEN_SIZE = 64


def conv_block(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    # nnU-Net's ConvDropoutNormReLU (dropout off): conv with bias, instance norm, leaky ReLU.
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, 3, stride=stride, padding=1, bias=True),
        nn.InstanceNorm3d(out_ch, eps=1e-5, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
    )


class UpStage(nn.Module):
    """One decoder stage: transposed conv up, concat the skip, two conv blocks.

    Keeping the transposed conv and its convs in one module lets forward() loop over a single
    ModuleList, which TorchScript accepts (it cannot index a ModuleList with a loop variable).
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up = nn.ConvTranspose3d(in_ch, out_ch, 2, stride=2, bias=True)
        self.convs = nn.Sequential(conv_block(2 * out_ch, out_ch), conv_block(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat((self.up(x), skip), dim=1))


class PlainUNet3d(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 2,
                 features: Sequence[int] = (32, 64, 128, 256, 320, 320)):
        super().__init__()
        encoder = []
        previous = in_channels
        for stage, width in enumerate(features):
            stride = 1 if stage == 0 else 2  # stages 1..5 halve the resolution in their first conv
            encoder.append(nn.Sequential(conv_block(previous, width, stride), conv_block(width, width)))
            previous = width
        self.encoder = nn.ModuleList(encoder)
        # Decoder runs from the bottleneck up: features[-1] -> features[-2] ... -> features[0].
        self.decoder = nn.ModuleList(
            [UpStage(features[s], features[s - 1]) for s in range(len(features) - 1, 0, -1)])
        self.head = nn.Conv3d(features[0], num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: List[torch.Tensor] = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        # skips[-1] is the bottleneck (already x); decoder stage i joins skips[-(i + 2)].
        for i, stage in enumerate(self.decoder):
            x = stage(x, skips[-(i + 2)])
        return self.head(x)


def flops_per_patch(model: nn.Module, patch: int) -> int:
    """Multiply-adds x 2 of the convolutions for one cubic patch, counted from the layer shapes met in a
    forward pass at 64^3 (the network is fully convolutional, so the count scales with the voxels)."""
    probe, total = 64, 0

    def count(module: nn.Module, inputs, output) -> None:
        nonlocal total
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        voxels = (inputs[0] if isinstance(module, nn.ConvTranspose3d) else output)[0, 0].numel()
        total += 2 * kernel * module.in_channels * module.out_channels * voxels // module.groups

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))]
    with torch.no_grad():
        model(torch.zeros(1, 1, probe, probe, probe))
    for hook in hooks:
        hook.remove()
    return round(total * (patch / probe) ** 3)


def manifest(num_classes: int, patch: int, spacing_mm, sha256: str) -> dict:
    return {
        "name": "bench-unet3d",
        "version": "1.0.0",
        "task": "segmentation",
        "description": "nnU-Net-sized 3D U-Net with random weights, for timing only",
        "license": "Apache-2.0",
        "training_data": "none (random weights)",
        "sha256": sha256,
        "input": {
            "channels": [{"name": "CT", "modality": "CT"}],
            "spatial_dims": 3,
            "orientation": None,
            "spacing_mm": spacing_mm,
            "patch_size": [patch] * 3,
            "interpolation": "linear",
            "normalisation": {"scheme": "ct", "clip": [-1000, 1000], "mean": 0, "std": 500},
            "mirror_axes": [0, 1, 2],
        },
        "output": {
            "activation": "softmax",
            "labels": [{"value": c, "name": "foreground" if num_classes == 2 else f"class{c}"}
                       for c in range(1, num_classes)],
            "postprocessing": {},
        },
        # Placeholder: `medpipe model seal DIR` runs the model and fills samples/stride/output_shape.
        "golden": {"input_shape": [1, 1] + [GOLDEN_SIZE] * 3, "output_shape": [1, num_classes] + [GOLDEN_SIZE] * 3,
                   "stride": 1, "samples": [], "tolerance": 1e-3},
    }


def main() -> None:
    fix_hash_seed()  # the same --seed gives a byte-identical model.pt (and so the same sha256)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory for model.pt and manifest.json")
    parser.add_argument("--classes", type=int, default=2, help="output channels incl. background (>= 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patch", type=int, default=128, help="cubic patch edge for the manifest (>= 64)")
    parser.add_argument("--spacing", type=float, help="isotropic spacing (mm) the model reads; default: the image's own")
    parser.add_argument("--features", default="32,64,128,256,320,320",
                        help="channels per stage; nnU-Net's by default, smaller for CPU smoke runs")
    args = parser.parse_args()
    if args.classes < 2:
        parser.error("--classes must be at least 2 (softmax over background + labels)")

    torch.manual_seed(args.seed)
    model = PlainUNet3d(num_classes=args.classes, features=[int(f) for f in args.features.split(",")]).eval()
    print(f"PlainUNet3d: {parameter_count(model):,} parameters (torch {torch.__version__})")

    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.pt")
    torch.jit.script(model).save(model_path)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        spacing = [args.spacing] * 3 if args.spacing else None
        json.dump(manifest(args.classes, args.patch, spacing, sha256_file(model_path)), f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "architecture.json"), "w") as f:
        json.dump({"parameters": parameter_count(model), "patch": args.patch,
                   "flops_per_patch": flops_per_patch(model, args.patch)}, f, indent=2)
        f.write("\n")
    print(f"wrote {model_path}, manifest.json and architecture.json")


if __name__ == "__main__":
    main()
