#!/usr/bin/python3
"""Evaluates the hippocampus model through medpipe on the held-out cases (numbers divisible by 5).

    /usr/bin/python3 scripts/eval_hippocampus.py [--cases N] [--min-dice 0.8 0.8] [--json FILE]

Each case's image is written as an MR DICOM series, the whole set goes through `medpipe run`, and
the masks medpipe writes are compared with the reference labels: Dice and 95th-percentile
Hausdorff distance per label, and the volume medpipe reports in result.json against the reference
volume. Exits 1 when a mean Dice falls below its --min-dice floor, or a case has no mask.
"""
import glob
import json
import os
import sys

import nibabel as nib
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from eval_io import (evaluation_parser, model_name, nifti_to_mr_series, require_data, results_by_study,  # noqa: E402
                     run_medpipe, study_uid, work_folder)
from metrics import bootstrap_ci, dice, hausdorff95  # noqa: E402

LABELS = {1: "anterior", 2: "posterior"}


def held_out_cases(data: str):
    cases = []
    for image in sorted(glob.glob(os.path.join(data, "images", "hippocampus_*.nii.gz"))):
        name = os.path.basename(image)[: -len(".nii.gz")]
        label = os.path.join(data, "labels", os.path.basename(image))
        if int(name.split("_")[1]) % 5 == 0 and os.path.exists(label):
            cases.append((name, image, label))
    return cases


def mask_of(result: dict, model: str):
    """The analysis of MODEL in a study's result.json and its mask, or (analysis or None, None)."""
    for series in result["series"]:
        for analysis in series.get("analyses", []):
            if analysis["model"] == model and "nifti" in analysis.get("outputs", {}):
                return analysis, nib.load(os.path.join(result["folder"], analysis["outputs"]["nifti"]))
    return None, None


def evaluate_case(name: str, label_path: str, result: dict, model: str) -> dict:
    truth_image = nib.load(label_path)
    truth = np.asarray(truth_image.dataobj).astype(np.int64)
    analysis, mask_image = mask_of(result, model) if result else (None, None)
    if mask_image is None:
        return {"case": name, "error": (analysis or {}).get("error", "no mask in medpipe's result")}
    if mask_image.shape != truth.shape or not np.allclose(mask_image.affine, truth_image.affine, atol=1e-3):
        return {"case": name, "error": f"mask grid {mask_image.shape} differs from the reference {truth.shape}"}
    mask = np.asarray(mask_image.dataobj).astype(np.int64)
    spacing = truth_image.header.get_zooms()[:3]
    voxel_ml = float(np.prod(spacing)) / 1000
    reported = {entry["value"]: entry["volume_ml"] for entry in analysis["labels"]}
    row = {"case": name}
    for value, label in LABELS.items():
        row[label] = {"dice": dice(mask == value, truth == value),
                      "hd95_mm": hausdorff95(mask == value, truth == value, spacing),
                      "volume_ml": reported[value], "reference_ml": float((truth == value).sum() * voxel_ml)}
    return row


def summarise(rows):
    summary = {"cases": len(rows), "failed": [r["case"] for r in rows if "error" in r]}
    for label in LABELS.values():
        scores = np.array([r[label]["dice"] if label in r else 0.0 for r in rows])
        hd95 = np.array([r[label]["hd95_mm"] for r in rows if label in r])
        errors = np.array([r[label]["volume_ml"] - r[label]["reference_ml"] for r in rows if label in r])
        summary[label] = {
            "dice_mean": float(scores.mean()), "dice_ci95": bootstrap_ci(lambda i: scores[i].mean(), len(scores)),
            "dice_sd": float(scores.std()),
            "hd95_mm_mean": float(hd95.mean()), "hd95_mm_median": float(np.median(hd95)),
            "volume_error_ml_mean": float(errors.mean()), "volume_abs_error_ml_mean": float(np.abs(errors).mean()),
            "volume_abs_error_ml_ci95": bootstrap_ci(lambda i: np.abs(errors[i]).mean(), len(errors)),
        }
    return summary


def main() -> None:
    parser = evaluation_parser(__doc__, "hippocampus/data/TrainingSet", "hippocampus",
                               "evaluate only the first N held-out cases (0: all)")
    parser.add_argument("--tta", action="store_true", help="pass --tta (mirroring along the manifest's axes) to medpipe")
    parser.add_argument("--min-dice", type=float, nargs=2, default=[0.0, 0.0], metavar=("ANTERIOR", "POSTERIOR"))
    args = parser.parse_args()

    require_data(args.data)
    cases = held_out_cases(args.data)[: args.cases or None]
    if not cases:
        sys.exit(f"no held-out cases under {args.data}")
    model = model_name(args.model)
    with work_folder(args.work) as work:
        for name, image, _ in cases:
            nifti_to_mr_series(image, name, os.path.join(work, "dicom", name))
        run_medpipe(args.medpipe, os.path.join(work, "dicom"), os.path.join(work, "out"), args.model,
                    "--device", args.device, "--output-types", "nifti", *(["--tta"] if args.tta else []))
        results = results_by_study(os.path.join(work, "out"))
        rows = [evaluate_case(name, label, results.get(study_uid(name)), model) for name, _, label in cases]
    summary = summarise(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "cases": rows}, f, indent=2)
            f.write("\n")

    print(f"{len(rows)} held-out cases through medpipe")
    print("| label | Dice mean [95% CI] | HD95 mm mean / median | volume error mL mean (abs) |")
    print("|---|---|---|---|")
    for label in LABELS.values():
        s = summary[label]
        print(f"| {label} | {s['dice_mean']:.3f} [{s['dice_ci95'][0]:.3f}, {s['dice_ci95'][1]:.3f}] | "
              f"{s['hd95_mm_mean']:.2f} / {s['hd95_mm_median']:.2f} | "
              f"{s['volume_error_ml_mean']:+.3f} ({s['volume_abs_error_ml_mean']:.3f}) |")
    problems = [f"{r['case']}: {r['error']}" for r in rows if "error" in r]
    for label, floor in zip(LABELS.values(), args.min_dice):
        if summary[label]["dice_mean"] < floor:
            problems.append(f"mean {label} Dice {summary[label]['dice_mean']:.3f} is below the floor {floor}")
    if problems:
        sys.exit("FAILED: " + "; ".join(problems))


if __name__ == "__main__":
    main()
