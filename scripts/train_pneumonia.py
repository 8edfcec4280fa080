#!/usr/bin/python3
"""Trains the pneumonia classifier (2-D CNN, PneumoniaMNIST 28 x 28) and exports a medpipe model package.

    /usr/bin/python3 scripts/train_pneumonia.py --data ../shared/data/xray/pneumoniamnist.npz \
        --out models/pneumonia
    build/pipeline/medpipe model seal models/pneumonia

Trains on the train split, keeps the epoch with the best validation AUC and sets the decision
threshold on the validation split (Youden's J); the test split is never read here. Each image is
scaled by its own min and max to [0, 1], medpipe's "minmax" scheme, and fed as [N, 1, rows, columns].
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from metrics import roc_auc, youden_threshold  # noqa: E402
from pooled_head import PooledHead  # noqa: E402
from training import export_package, parameter_count, reproducible_parser, seed_everything  # noqa: E402


def conv_bn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class PneumoniaNet(PooledHead):
    """Three VGG-style stages (28 -> 14 -> 7), global average pooling, two logits (normal, pneumonia)."""

    def __init__(self, widths=(32, 64, 128), dropout: float = 0.3):
        super().__init__()
        layers = []
        previous = 1
        for stage, width in enumerate(widths):
            if stage > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [conv_bn(previous, width), conv_bn(width, width)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous, 2)


def minmax(images: np.ndarray) -> torch.Tensor:
    images = images.astype(np.float32)
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    return torch.from_numpy((images - low) / np.where(high > low, high - low, 1))[:, None]


def augment(generator: torch.Generator, images: torch.Tensor) -> torch.Tensor:
    """Small rotations, shifts and zoom, as a positioning change on the detector; then contrast and brightness."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) - 0.5) * 2 * 0.17  # +-10 degrees
    scale = 1 + (torch.rand(n, generator=generator) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 0.15
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.3
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.2
    return (images - 0.5) * contrast + 0.5 + brightness


@torch.no_grad()
def pneumonia_probability(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(images).softmax(1)[:, 1].numpy()


def main() -> None:
    parser = reproducible_parser(__doc__, "pneumoniamnist.npz")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    seed_everything(args)
    generator = torch.Generator().manual_seed(args.seed)
    data = np.load(args.data)
    train_images, train_labels = minmax(data["train_images"]), torch.from_numpy(data["train_labels"][:, 0].astype(np.int64))
    val_images, val_labels = minmax(data["val_images"]), data["val_labels"][:, 0].astype(np.int64)
    # The train split is 90 % pneumonia: weight the classes so that each counts equally.
    counts = torch.bincount(train_labels, minlength=2).float()
    class_weights = counts.sum() / (2 * counts)
    print(f"train {len(train_labels)} ({counts.tolist()} normal/pneumonia), validation {len(val_labels)}")

    model = PneumoniaNet()
    print(f"PneumoniaNet: {parameter_count(model):,} parameters")
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps_per_epoch = (len(train_labels) + args.batch - 1) // args.batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, epochs=args.epochs,
                                                   steps_per_epoch=steps_per_epoch)
    started = time.time()
    best = {"auc": -1.0}
    best_state = None
    history = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        for start in range(0, len(order), args.batch):
            picked = order[start:start + args.batch]
            logits = model(augment(generator, train_images[picked]))
            loss = F.cross_entropy(logits, train_labels[picked], weight=class_weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        auc = roc_auc(val_labels, pneumonia_probability(model, val_images))
        history.append({"epoch": epoch, "loss": round(loss.item(), 4), "val_auc": round(auc, 4)})
        print(json.dumps(history[-1]), flush=True)
        if auc > best["auc"]:
            best = {"epoch": epoch, "auc": auc}
            best_state = {k: v.clone() for k, v in model.state_dict().items()}

    model.load_state_dict(best_state)
    threshold = youden_threshold(val_labels, pneumonia_probability(model, val_images))
    model_path = export_package(model, args.out, {
        "seed": args.seed, "epochs": args.epochs, "batch": args.batch, "training_images": len(train_labels),
        "validation_images": len(val_labels), "minutes": round((time.time() - started) / 60, 1),
        "threads": args.threads, "selected": best, "threshold": threshold, "history": history})
    print(f"wrote {model_path}: epoch {best['epoch']}, validation AUC {best['auc']:.4f}, threshold {threshold:.4f}")


if __name__ == "__main__":
    main()
