#!/usr/bin/python3
"""Per-label volume ranges of a labelled data set, for a model manifest's "normal_range_ml".

    /usr/bin/python3 scripts/normal_ranges.py --data ../shared/data/hippocampus/data/TrainingSet \
        --manifest models/hippocampus/manifest.json

DATA holds images/ and labels/ with the same file names; only labels with their image count (the
Decathlon copy's labels/ also holds strays without one, e.g. a 512 x 512 CT mask). Each label file's volume per label value (voxel count x voxel volume from the NIfTI affine, in mL);
the range is the [2.5th, 97.5th] percentile over the files (numpy's linear convention), widened to
whole hundredths of a mL. It describes the data set's population, not a clinical norm. Prints the
figures as JSON; with --manifest, writes each range into the manifest label of that value (the
rest of the manifest, its sha256 and golden vector, is kept as it is).
"""
import argparse
import glob
import json
import math
import os

import nibabel as nib
import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 2.5, 97.5


def label_volumes_ml(path: str) -> dict:
    image = nib.load(path)
    voxel_ml = abs(np.linalg.det(image.affine[:3, :3])) / 1000
    values, counts = np.unique(np.asarray(image.dataobj).astype(np.int64), return_counts=True)
    return {int(v): float(c) * voxel_ml for v, c in zip(values, counts) if v != 0}


def ranges(data: str) -> dict:
    files = [path for path in sorted(glob.glob(os.path.join(data, "labels", "*.nii*")))
             if os.path.exists(os.path.join(data, "images", os.path.basename(path)))]
    if not files:
        raise SystemExit(f"{data}: no NIfTI label file in labels/ with its image in images/")
    per_file = [label_volumes_ml(path) for path in files]
    values = sorted({v for volumes in per_file for v in volumes})
    summary = {}
    for value in values:
        # A file without the label counts as 0 mL: leaving it out would narrow the range.
        volumes = np.array([volumes.get(value, 0.0) for volumes in per_file])
        low, high = np.percentile(volumes, [LOW_PERCENTILE, HIGH_PERCENTILE])
        summary[value] = {
            "normal_range_ml": [math.floor(low * 100) / 100, math.ceil(high * 100) / 100],
            "files": len(volumes),
            "files_without_label": int((volumes == 0).sum()),
            "min_ml": round(float(volumes.min()), 4),
            "median_ml": round(float(np.median(volumes)), 4),
            "max_ml": round(float(volumes.max()), 4),
            "percentiles": [LOW_PERCENTILE, HIGH_PERCENTILE],
        }
    return summary


def write_into_manifest(manifest_path: str, summary: dict) -> None:
    with open(manifest_path) as f:
        manifest = json.load(f)
    for label in manifest["output"]["labels"]:
        if label["value"] not in summary:
            raise SystemExit(f"{manifest_path}: label {label['value']} ({label['name']}) is in no label file")
        label["normal_range_ml"] = summary[label["value"]]["normal_range_ml"]
    with open(manifest_path, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with images/ and labels/ (NIfTI label maps, 0 background)")
    parser.add_argument("--manifest", help="manifest.json to write the ranges into")
    args = parser.parse_args()
    summary = ranges(args.data)
    print(json.dumps(summary, indent=2))
    if args.manifest:
        write_into_manifest(args.manifest, summary)


if __name__ == "__main__":
    main()
