#!/usr/bin/env python3
"""Writes a benchmark archive of real images as DICOM studies: the Decathlon hippocampus crops as MR
series (what the hippocampus model reads) and PneumoniaMNIST test images as chest X-rays (what the
pneumonia model reads), one study each, alternating so that CPU-heavy and device-heavy studies mix.

usage: make_batch_archive.py ARCHIVE --studies N [--data ../shared/data]"""
import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from eval_io import ROOT, image_to_dx, nifti_to_mr_series, require_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = parser.parse_args()
    images_dir = os.path.join(args.data, "hippocampus", "data", "TrainingSet", "images")
    xrays_path = os.path.join(args.data, "xray", "pneumoniamnist.npz")
    require_data(images_dir)
    require_data(xrays_path)
    volumes = sorted(glob.glob(os.path.join(images_dir, "hippocampus_*.nii.gz")))
    xrays = np.load(xrays_path)["test_images"]
    for i in range(args.studies):
        case = f"bench_{i:04d}"
        if i % 2 == 0:
            nifti_to_mr_series(volumes[(i // 2) % len(volumes)], case, os.path.join(args.archive, case))
        else:
            image_to_dx(xrays[(i // 2) % len(xrays)], case, os.path.join(args.archive, case, "image.dcm"))
    print(f"wrote {args.studies} studies to {args.archive}")


if __name__ == "__main__":
    main()
