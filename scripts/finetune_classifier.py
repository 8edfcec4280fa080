#!/usr/bin/python3
"""Fine-tunes a shipped 2-D classifier's backbone on a labelled folder of images and exports a new
medpipe model package that `medpipe run` takes as it is (transfer learning).

    /usr/bin/python3 scripts/finetune_classifier.py --base models/pneumonia --data FOLDER \
        --out models/my-classifier [--epochs 10] [--medpipe build/pipeline/medpipe]

FOLDER holds one subfolder per class (its name is the class name; classes in alphabetical order) of
PNG/JPEG images or DICOM files. The base package's module must have forward_features (the backbone)
and forward_head, as models/pneumonia has: the backbone keeps its trained weights and learns at a
tenth of the rate of a new head with one output per class. Images are prepared as medpipe prepares
them for the base model (scaled by their own minimum and maximum, resized to its input size). A fifth
of each class is held out; the epoch with the best held-out accuracy is kept. The package gets the
base manifest with the new name and classes, no decision rule (the most probable class is the
result), model.pt, training.json, and is sealed with `medpipe model seal` when --medpipe is given.
"""
import copy
import json
import os
import subprocess
import sys
import time

import numpy as np
import pydicom
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pooled_head import PooledHead  # noqa: E402
from training import export_package, reproducible_parser, seed_everything  # noqa: E402


class FineTuned(PooledHead):
    """The base model's backbone under a new head: average-pooled feature maps, dropout, one logit per class."""

    def __init__(self, backbone: nn.Module, channels: int, classes: int, dropout: float = 0.3):
        super().__init__()
        self.features = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, classes)


def read_grey(path: str) -> np.ndarray:
    """One image as float32 grey values: PNG/JPEG through PIL, DICOM through pydicom (MONOCHROME1 inverted)."""
    if path.lower().endswith((".png", ".jpg", ".jpeg")):
        return np.asarray(Image.open(path).convert("F"), dtype=np.float32)
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array.astype(np.float32)
    if pixels.ndim != 2:
        raise SystemExit(f"{path}: not a single grey image (shape {pixels.shape})")
    return pixels.max() - pixels if dataset.get("PhotometricInterpretation") == "MONOCHROME1" else pixels


def prepared(pixels: np.ndarray, size) -> torch.Tensor:
    """medpipe's minmax scheme, then the whole image resized to SIZE (rows, columns) linearly."""
    low, high = pixels.min(), pixels.max()
    scaled = torch.from_numpy((pixels - low) / (high - low if high > low else 1))[None, None]
    return F.interpolate(scaled, size=size, mode="bilinear", align_corners=False)[0]


def read_folder(folder: str, size):
    classes = sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))
    if len(classes) < 2:
        raise SystemExit(f"{folder}: needs a subfolder per class, at least two; found {classes}")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted(os.listdir(os.path.join(folder, name))):
            if file.lower().endswith((".png", ".jpg", ".jpeg", ".dcm")):
                images.append(prepared(read_grey(os.path.join(folder, name, file)), size))
                labels.append(label)
    return classes, torch.stack(images), torch.tensor(labels)


def held_out(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A fifth of each class (at least one image), as a boolean mask."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in labels.unique():
        members = (labels == label).nonzero()[:, 0]
        members = members[torch.randperm(len(members), generator=generator)]
        mask[members[:max(1, len(members) // 5)]] = True
    return mask


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    return (model(images).argmax(1) == labels).float().mean().item()


def main() -> None:
    parser = reproducible_parser(__doc__, "folder with one subfolder of images per class")
    parser.add_argument("--base", required=True, help="model package whose backbone is fine-tuned")
    parser.add_argument("--name", help="the new model's name (default: the --out folder's name)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="the head's learning rate; the backbone's is a tenth")
    parser.add_argument("--license", default="as the training data's", help="license of the new weights")
    parser.add_argument("--medpipe", help="medpipe binary: seal the package when given")
    args = parser.parse_args()
    seed_everything(args)
    generator = torch.Generator().manual_seed(args.seed)

    with open(os.path.join(args.base, "manifest.json")) as f:
        base_manifest = json.load(f)
    if base_manifest["task"] != "classification" or base_manifest["input"]["spatial_dims"] != 2:
        raise SystemExit(f"{args.base}: the base must be a 2-D classifier")
    base = torch.jit.load(os.path.join(args.base, "model.pt"))
    if not hasattr(base, "forward_features") or not hasattr(base, "head"):
        raise SystemExit(f"{args.base}: the base module needs forward_features and a 'head' layer")
    size = base_manifest["input"]["patch_size"]
    classes, images, labels = read_folder(args.data, size)
    validation = held_out(labels, generator)
    train_images, train_labels = images[~validation], labels[~validation]
    print(f"{len(labels)} images of {len(classes)} classes ({', '.join(classes)}); {int(validation.sum())} held out")

    model = FineTuned(base.features, base.head.weight.shape[1], len(classes))
    optimiser = torch.optim.AdamW([{"params": model.features.parameters(), "lr": args.lr / 10},
                                   {"params": list(model.head.parameters()), "lr": args.lr}], weight_decay=1e-4)
    counts = torch.bincount(train_labels, minlength=len(classes)).float().clamp(min=1)
    class_weights = counts.sum() / (len(classes) * counts)
    started = time.time()
    best, best_state, history = {"accuracy": -1.0}, None, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        for start in range(0, len(order), args.batch):
            picked = order[start:start + args.batch]
            loss = F.cross_entropy(model(train_images[picked]), train_labels[picked], weight=class_weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        held_out_accuracy = accuracy(model, images[validation], labels[validation])
        history.append({"epoch": epoch, "loss": round(loss.item(), 4), "held_out_accuracy": round(held_out_accuracy, 4)})
        print(json.dumps(history[-1]), flush=True)
        if held_out_accuracy > best["accuracy"]:
            best = {"epoch": epoch, "accuracy": held_out_accuracy}
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)

    name = args.name or os.path.basename(os.path.normpath(args.out))
    export_package(model, args.out, {
        "base": base_manifest["name"] + " " + base_manifest["version"], "data": os.path.abspath(args.data),
        "classes": classes, "images": len(labels), "held_out": int(validation.sum()), "seed": args.seed,
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "minutes": round((time.time() - started) / 60, 2),
        "selected": best, "history": history})
    manifest = copy.deepcopy(base_manifest)
    manifest.update({"name": name, "version": "1.0.0", "license": args.license, "sha256": "",
                     "description": f"{', '.join(classes)}: {base_manifest['name']}'s backbone fine-tuned on "
                                    f"{len(labels)} images (scripts/finetune_classifier.py)",
                     "training_data": f"{os.path.abspath(args.data)}: {len(labels)} images, a fifth held out"})
    manifest["output"] = {"activation": "softmax", "classes": [{"name": c} for c in classes]}
    manifest["golden"] = {"input_shape": base_manifest["golden"]["input_shape"]}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}: epoch {best['epoch']}, held-out accuracy {best['accuracy']:.3f}")
    if args.medpipe:
        subprocess.run([args.medpipe, "model", "seal", args.out], check=True)
    else:
        print(f"seal it before use: medpipe model seal {args.out}")


if __name__ == "__main__":
    main()
