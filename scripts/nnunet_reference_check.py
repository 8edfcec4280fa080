#!/usr/bin/python3
"""Proves scripts/nnunet_export.py: exports nnU-Net v2 reference models, predicts their inputs with a numpy/scipy/
torch re-implementation of nnU-Net's inference around the exported model.pt (scripts/lib/nnunet_inference.py),
and compares with nnU-Net's own predictions.

    /usr/bin/python3 scripts/nnunet_reference_check.py [--data ../shared/data/nnunet] [--datasets D501,...]
        [--variants fold_0,folds_0_1] [--ensemble per_fold|mean] [--accumulate float16|float32]
        [--tile-batch 1] [--threads 2] [--json FILE] [--min-agreement 0.995] [--min-dice 0.99]

--data holds DatasetXXX_Name/{model,inputs,reference/VARIANT} (shared/data/nnunet/README.md); VARIANT's
timings.json names the folds nnU-Net used. Per case: voxel agreement and per-label Dice of the segmentation
against reference/VARIANT/CASE.nii.gz, and where nnU-Net saved them, the largest difference of the softmax
probabilities against CASE.npz. Exits 1 when a case falls below --min-agreement or a label below --min-dice.

The defaults (--ensemble per_fold --accumulate float16) do nnU-Net's arithmetic: each fold's sliding window is
stitched in float16, then the folds are averaged in float16 (model.pt's fold_logits gives the folds' logits).
--ensemble mean --accumulate float32 is what medpipe does: one model.pt forward (the folds' mean) per tile,
stitched in float32; it differs from nnU-Net only by nnU-Net's float16 rounding.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from nnunet_inference import predict_case  # noqa: E402

DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "nnunet"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="default ../shared/data/nnunet")
    parser.add_argument("--datasets", default=None, help="comma list of Dataset folder names; default all")
    parser.add_argument("--variants", default="fold_0,folds_0_1")
    parser.add_argument("--ensemble", choices=("per_fold", "mean"), default="per_fold",
                        help="per_fold: stitch each fold, then average (nnU-Net); mean: stitch model.pt's mean")
    parser.add_argument("--accumulate", choices=("float16", "float32"), default="float16",
                        help="sliding-window accumulator: float16 as nnU-Net, float32 as medpipe")
    parser.add_argument("--tile-batch", type=int, default=1, help="tiles per network call (nnU-Net: 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (nnU-Net's reference used 2)")
    parser.add_argument("--json", default=None, help="write every figure here")
    parser.add_argument("--min-agreement", type=float, default=0.995)
    parser.add_argument("--min-dice", type=float, default=0.99)
    return parser.parse_args()


def cases_of(inputs: str) -> dict:
    """{case: [channel files]} from nnU-Net's CASE_XXXX.nii.gz naming."""
    cases = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(inputs, "*_[0-9][0-9][0-9][0-9].nii.gz"))):
        cases[os.path.basename(path)[: -len("_0000.nii.gz")]].append(path)
    return dict(cases)


def export(results: str, folds: list, out: str) -> str:
    """Runs the exporter's command line, as a user would."""
    command = [sys.executable, os.path.join(HERE, "nnunet_export.py"), results, "--out", out,
               "--folds", ",".join(str(f) for f in folds)]
    subprocess.run(command, check=True)
    return out


def dice_per_label(prediction: np.ndarray, reference: np.ndarray, labels: list) -> dict:
    """Dice per foreground label; None where the label is in neither (nothing to compare)."""
    result = {}
    for label in labels:
        p, r = prediction == label, reference == label
        total = p.sum() + r.sum()
        result[label] = None if total == 0 else float(2 * np.logical_and(p, r).sum() / total)
    return result


def compare(predicted: dict, reference_dir: str, case: str, labels: list) -> dict:
    reference = nib.load(os.path.join(reference_dir, case + ".nii.gz"))
    ref_labels = np.asarray(reference.dataobj)
    if ref_labels.shape != predicted["labels"].shape:
        raise RuntimeError(f"{case}: shape {predicted['labels'].shape} vs nnU-Net's {ref_labels.shape}")
    row = {"agreement": float(np.mean(predicted["labels"] == ref_labels)),
           "differing_voxels": int(np.sum(predicted["labels"] != ref_labels)),
           "voxels": int(ref_labels.size),
           "dice": dice_per_label(predicted["labels"], ref_labels, labels)}
    npz = os.path.join(reference_dir, case + ".npz")
    if os.path.isfile(npz):
        ref_probabilities = np.load(npz)["probabilities"]
        difference = np.abs(ref_probabilities - predicted["probabilities"])
        row["probabilities_max_abs_diff"] = float(difference.max())
        row["probabilities_mean_abs_diff"] = float(difference.mean())
    return row


def check_variant(dataset_dir: str, variant: str, args: argparse.Namespace, work: str) -> list:
    reference_dir = os.path.join(dataset_dir, "reference", variant)
    with open(os.path.join(reference_dir, "timings.json")) as f:
        timings = json.load(f)
    results = glob.glob(os.path.join(dataset_dir, "model", "Dataset*"))[0]
    package = export(results, timings["folds"], os.path.join(work, f"{os.path.basename(dataset_dir)}_{variant}"))
    with open(os.path.join(package, "nnunet.json")) as f:
        plan = json.load(f)
    model = torch.jit.load(os.path.join(package, "model.pt")).eval()
    labels = sorted(v for k, v in plan["labels"].items() if k not in ("background", "ignore"))
    rows = []
    for case, paths in cases_of(os.path.join(dataset_dir, "inputs")).items():
        predicted = predict_case(model, paths, plan, getattr(torch, args.accumulate), args.ensemble == "per_fold",
                                 args.tile_batch)
        row = compare(predicted, reference_dir, case, labels)
        nnunet = timings["cases"].get(case, {})
        row.update(dataset=os.path.basename(dataset_dir), variant=variant, case=case, tiles=predicted["tiles"],
                   preprocessed_shape=predicted["preprocessed_shape"],
                   nnunet_preprocessed_shape=nnunet.get("preprocessed_shape"), seconds=predicted["seconds"],
                   nnunet_seconds={"total": nnunet.get("wall_s_predict_from_files"),
                                   "sliding_window": nnunet.get("wall_s_sliding_window_all_folds")})
        print(format_row(row), flush=True)
        rows.append(row)
    return rows


def format_row(row: dict) -> str:
    dice = " ".join(f"{label}:{'-' if d is None else f'{d:.4f}'}" for label, d in row["dice"].items())
    prob = row.get("probabilities_max_abs_diff")
    seconds, nnunet = row["seconds"], row["nnunet_seconds"]
    return (f"| {row['dataset']} | {row['variant']} | {row['case']} | {100 * row['agreement']:.3f} % "
            f"({row['differing_voxels']}/{row['voxels']}) | {dice} | {'-' if prob is None else f'{prob:.2e}'} | "
            f"{row['tiles']} | {seconds['total']:.2f} / {seconds['sliding_window']:.2f} | "
            f"{nnunet['total']} / {nnunet['sliding_window']} |")


def failures(rows: list, min_agreement: float, min_dice: float) -> list:
    bad = []
    for row in rows:
        name = f"{row['dataset']} {row['variant']} {row['case']}"
        if row["agreement"] < min_agreement:
            bad.append(f"{name}: agreement {row['agreement']:.5f} < {min_agreement}")
        if row["preprocessed_shape"] != row["nnunet_preprocessed_shape"] and row["nnunet_preprocessed_shape"]:
            bad.append(f"{name}: preprocessed shape {row['preprocessed_shape']} vs nnU-Net's "
                       f"{row['nnunet_preprocessed_shape']}")
        for label, d in row["dice"].items():
            if d is not None and d < min_dice:
                bad.append(f"{name}: Dice of label {label} {d:.4f} < {min_dice}")
    return bad


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if not os.path.isdir(args.data):
        print(f"{args.data} is absent (see ../shared/data/README.md): nothing checked", file=sys.stderr)
        return 77  # CTest's skip code
    datasets = sorted(glob.glob(os.path.join(args.data, "Dataset*")))
    if args.datasets:
        wanted = args.datasets.split(",")
        datasets = [d for d in datasets if any(os.path.basename(d).startswith(w) for w in wanted)]
    if not datasets:
        print(f"no Dataset* folders in {args.data}", file=sys.stderr)
        return 2
    print("| dataset | variant | case | voxel agreement (differing/all) | Dice per label | max abs diff of "
          "probabilities | tiles | s here: total / sliding window | s nnU-Net: total / sliding window |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnunet_check_") as work:
        for dataset_dir in datasets:
            for variant in args.variants.split(","):
                rows += check_variant(dataset_dir, variant, args, work)
    bad = failures(rows, args.min_agreement, args.min_dice)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ensemble": args.ensemble, "accumulate": args.accumulate, "tile_batch": args.tile_batch,
                       "threads": args.threads, "torch": torch.__version__,
                       "cases": rows, "failures": bad}, f, indent=2)
            f.write("\n")
    for line in bad:
        print("FAIL", line, file=sys.stderr)
    print(f"{len(rows)} case predictions, {len(bad)} failures", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
