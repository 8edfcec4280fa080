#!/usr/bin/python3
"""Trains the hippocampus 3-D U-Net (MSD Task04) on the CPU and exports it as a medpipe model package.

    /usr/bin/python3 scripts/train_hippocampus.py --data ../shared/data/hippocampus/data/TrainingSet \
        --out models/hippocampus
    build/pipeline/medpipe model seal models/hippocampus

Held out: every case whose number is divisible by 5 (hippocampus_005, _015, ...) is never read here.
Of the rest, cases numbered 1 mod 10 choose the checkpoint (validation); the others train.
Arrays are indexed [z, y, x] in the NIfTI's RAS axes, the layout medpipe feeds a model whose manifest
says "orientation": "RAS" (x fastest), and each image is z-scored over all its voxels as medpipe's
"zscore" scheme does, then padded with 0 to the patch.
"""
import glob
import json
import math
import os
import re
import sys
import time

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from training import export_package, parameter_count, reproducible_parser, seed_everything  # noqa: E402
from unet3d import PlainUNet3d  # noqa: E402

PATCH_ZYX = (40, 56, 40)  # nnU-Net's Task04 patch; three halvings leave 5 x 7 x 5
FEATURES = (16, 32, 64, 128)
CLASSES = 3  # background, anterior, posterior


def case_number(path: str) -> int:
    return int(re.search(r"hippocampus_(\d+)", path).group(1))


def is_held_out(number: int) -> bool:
    return number % 5 == 0


def load_case(image_path: str, label_path: str):
    image = nib.load(image_path)
    if not np.allclose(image.affine, nib.load(label_path).affine):
        raise ValueError(f"{label_path}: label grid differs from its image")
    voxels = np.asarray(image.get_fdata(dtype=np.float32)).transpose(2, 1, 0)  # [x,y,z] -> [z,y,x]
    std = voxels.std()
    voxels = (voxels - voxels.mean()) / (std if std > 0 else 1)
    labels = np.asarray(nib.load(label_path).dataobj).astype(np.int64).transpose(2, 1, 0)
    return np.ascontiguousarray(voxels), np.ascontiguousarray(labels)


def load_split(data: str):
    train, validation = [], []
    for image_path in sorted(glob.glob(os.path.join(data, "images", "hippocampus_*.nii.gz"))):
        number = case_number(image_path)
        label_path = os.path.join(data, "labels", os.path.basename(image_path))
        if is_held_out(number) or not os.path.exists(label_path):
            continue
        (validation if number % 10 == 1 else train).append((number, *load_case(image_path, label_path)))
    return train, validation


def pad_to(array: np.ndarray, shape) -> np.ndarray:
    """Pads with 0 at both ends (the odd voxel at the end), as medpipe pads to the patch."""
    pads = [(max(0, s - a) // 2, max(0, s - a) - max(0, s - a) // 2) for a, s in zip(array.shape, shape)]
    return np.pad(array, pads)


def random_patch(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray):
    image, labels = pad_to(image, PATCH_ZYX), pad_to(labels, PATCH_ZYX)
    starts = [rng.integers(0, a - p + 1) for a, p in zip(image.shape, PATCH_ZYX)]
    window = tuple(slice(s, s + p) for s, p in zip(starts, PATCH_ZYX))
    return image[window], labels[window]


def augment(rng: np.random.Generator, images: torch.Tensor, labels: torch.Tensor):
    """nnU-Net's main augmentations, cheaply: rotation/scaling, mirroring, intensity, noise."""
    batch = images.shape[0]
    if rng.random() < 0.3:
        thetas = []
        for _ in range(batch):
            angles = rng.uniform(-0.26, 0.26, 3)  # +-15 degrees about each axis
            scale = rng.uniform(0.85, 1.15)
            rotation = np.eye(3)
            for axis, angle in enumerate(angles):
                c, s = math.cos(angle), math.sin(angle)
                i, j = [a for a in range(3) if a != axis]
                r = np.eye(3)
                r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
                rotation = rotation @ r
            thetas.append(np.concatenate([rotation * scale, np.zeros((3, 1))], axis=1))
        theta = torch.tensor(np.stack(thetas), dtype=torch.float32)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        labels = F.grid_sample(labels.unsqueeze(1).float(), grid, mode="nearest", padding_mode="zeros",
                               align_corners=False).squeeze(1).long()
    for axis in (2, 3, 4):
        if rng.random() < 0.5:
            images, labels = images.flip(axis), labels.flip(axis - 1)
    images = images * torch.tensor(rng.uniform(0.85, 1.15, (batch, 1, 1, 1, 1)), dtype=torch.float32)
    images = images + torch.tensor(rng.normal(0, 0.1, (batch, 1, 1, 1, 1)), dtype=torch.float32)
    if rng.random() < 0.15:
        images = images + 0.1 * torch.randn_like(images)
    return images, labels


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus batch soft Dice over the foreground labels (nnU-Net's loss)."""
    probabilities = logits.softmax(1)
    one_hot = F.one_hot(labels, CLASSES).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    intersection = (probabilities * one_hot).sum(dims)
    dice = (2 * intersection + 1e-5) / (probabilities.sum(dims) + one_hot.sum(dims) + 1e-5)
    return F.cross_entropy(logits, labels) + (1 - dice[1:].mean())


def dice_scores(prediction: np.ndarray, truth: np.ndarray):
    scores = []
    for label in range(1, CLASSES):
        p, t = prediction == label, truth == label
        scores.append(1.0 if p.sum() + t.sum() == 0 else 2 * (p & t).sum() / (p.sum() + t.sum()))
    return scores


@torch.no_grad()
def validate(model, cases):
    """Mean Dice per label, each whole volume in one pass (padded to a multiple of 8, the U-Net's stride)."""
    model.eval()
    scores = []
    for _, image, labels in cases:
        shape = [max(p, 8 * math.ceil(a / 8)) for a, p in zip(image.shape, PATCH_ZYX)]
        padded = pad_to(image, shape)
        offsets = [(s - a) // 2 for a, s in zip(image.shape, shape)]
        prediction = model(torch.from_numpy(padded)[None, None]).argmax(1)[0].numpy()
        window = tuple(slice(o, o + a) for o, a in zip(offsets, image.shape))
        scores.append(dice_scores(prediction[window], labels))
    model.train()
    return np.mean(scores, axis=0).tolist()


def main() -> None:
    parser = reproducible_parser(__doc__, "TrainingSet folder with images/ and labels/")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--validate-every", type=int, default=100)
    args = parser.parse_args()

    seed_everything(args)
    rng = np.random.default_rng(args.seed)
    train, validation = load_split(args.data)
    print(f"{len(train)} training and {len(validation)} validation cases; held out: numbers divisible by 5")

    model = PlainUNet3d(num_classes=CLASSES, features=FEATURES)
    print(f"PlainUNet3d{FEATURES}: {parameter_count(model):,} parameters")
    torch.jit.script(model)  # fails now, not after an hour, if the network cannot be exported
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.pt")  # the best weights so far, removed after export
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: (1 - step / args.steps) ** 0.9)

    started = time.time()
    best = {"mean_dice": -1.0}
    history = []
    for step in range(1, args.steps + 1):
        picks = rng.integers(0, len(train), args.batch)
        patches = [random_patch(rng, train[i][1], train[i][2]) for i in picks]
        images = torch.from_numpy(np.stack([p[0] for p in patches]))[:, None]
        labels = torch.from_numpy(np.stack([p[1] for p in patches]))
        images, labels = augment(rng, images, labels)
        optimiser.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % args.validate_every == 0 or step == args.steps:
            dice = validate(model, validation)
            entry = {"step": step, "loss": round(loss.item(), 4), "dice": [round(d, 4) for d in dice],
                     "minutes": round((time.time() - started) / 60, 1)}
            history.append(entry)
            print(json.dumps(entry), flush=True)
            if np.mean(dice) > best["mean_dice"]:
                best = {"step": step, "mean_dice": float(np.mean(dice)), "dice": dice}
                torch.save(model.state_dict(), checkpoint)

    model.load_state_dict(torch.load(checkpoint))
    model_path = export_package(model, args.out, {
        "seed": args.seed, "steps": args.steps, "batch": args.batch, "patch_zyx": PATCH_ZYX, "features": FEATURES,
        "training_cases": len(train), "validation_cases": len(validation),
        "minutes": round((time.time() - started) / 60, 1), "threads": args.threads, "selected": best,
        "history": history})
    os.remove(checkpoint)
    print(f"wrote {model_path}: step {best['step']}, validation Dice {best['dice']}")


if __name__ == "__main__":
    main()
