#!/usr/bin/python3
"""Writes images of a MedMNIST-style .npz split as a labelled folder of PNGs, one subfolder per class:
the layout scripts/finetune_classifier.py reads, for trying the transfer-learning path on shared data.

    /usr/bin/python3 scripts/npz_to_folder.py --npz ../shared/data/xray/pneumoniamnist.npz \
        --split val --classes normal,pneumonia --count 200 --out /tmp/xrays

Takes the first COUNT images of the split (all when 0), in the file's order.
"""
import argparse
import os

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz", required=True)
    parser.add_argument("--split", default="val", help="train, val or test")
    parser.add_argument("--classes", required=True, help="class names for labels 0, 1, ..., comma-separated")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    data = np.load(args.npz)
    images, labels = data[f"{args.split}_images"], data[f"{args.split}_labels"][:, 0]
    if args.count:
        images, labels = images[:args.count], labels[:args.count]
    classes = args.classes.split(",")
    for name in classes:
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image.astype(np.uint8)).save(os.path.join(args.out, classes[label], f"{args.split}_{i:05d}.png"))
    print(f"wrote {len(labels)} images to {args.out}: " +
          ", ".join(f"{name} {int((labels == i).sum())}" for i, name in enumerate(classes)))


if __name__ == "__main__":
    main()
