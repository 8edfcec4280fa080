#!/usr/bin/python3
"""`medpipe model import nnunet` and `medpipe run` against nnU-Net's own predictions (../shared/data/nnunet).

Each SET (DATASET:FOLDS, FOLDS 'fold_0' or 'folds_0_1', as reference/<FOLDS>/) is imported into a temporary
folder, every input of the dataset (or --cases) is run through `medpipe run` as NIfTI, and the NIfTI mask medpipe
writes is compared voxel for voxel with nnU-Net's segmentation: per label Dice >= 0.99 (labels present in either)
and voxel agreement >= 99.5 %. --refusals checks that a cascade and a missing fold are refused (exit 2, the
exporter's reason, nothing left behind). --dicom CASE=SERIES_DIR also runs the DICOM series that CASE's NIfTI input
was converted from (with Debian's dcm2niix) and compares its mask, voxel centre by voxel centre in world space,
with the mask of the NIfTI and with nnU-Net's segmentation (same limits); where dcm2niix is installed it first
checks that it converts the series to exactly the NIfTI input (the manifest's dicom_voxel_order dcm2niix).
Exit 0 pass, 1 fail, 77 reference data absent.

usage: tests/nnunet/nnunet_run_test.py --medpipe BIN --data DIR [--set Dataset501_Hippocampus:fold_0 ...]
                                       [--cases a,b] [--dicom CASE=DIR] [--refusals] [--json FILE]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nibabel as nib
import numpy as np

MIN_DICE = 0.99
MIN_AGREEMENT = 0.995


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def import_model(medpipe, data, dataset, folds, out):
    results = os.path.join(data, dataset, "model", dataset)
    fold_arg = "0" if folds == "fold_0" else "all"
    start = time.perf_counter()
    done = run([medpipe, "model", "import", "nnunet", results, "--out", out, "--folds", fold_arg])
    if done.returncode != 0:
        raise RuntimeError(f"import of {dataset} ({folds}) failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def masks_by_case(outdir):
    """{input file name: written mask} from each study's result.json."""
    masks = {}
    for result_file in glob.glob(os.path.join(outdir, "studies", "*", "result.json")):
        with open(result_file) as f:
            result = json.load(f)
        source = os.path.basename(result.get("source", {}).get("path", ""))
        for series in result.get("series", []):
            for analysis in series.get("analyses", []):
                if "nifti" in analysis.get("outputs", {}):
                    masks[source] = (os.path.join(os.path.dirname(result_file), analysis["outputs"]["nifti"]), analysis)
    return masks


def compare(mask_file, reference_file):
    mine = np.asanyarray(nib.load(mask_file).dataobj).astype(np.int32)
    theirs = np.asanyarray(nib.load(reference_file).dataobj).astype(np.int32)
    if mine.shape != theirs.shape:
        return {"error": f"shape {mine.shape} vs nnU-Net's {theirs.shape}"}
    dice = {}
    for label in sorted((set(np.unique(mine)) | set(np.unique(theirs))) - {0}):
        a, b = mine == label, theirs == label
        dice[int(label)] = 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())
    return {"agreement": float((mine == theirs).mean()), "differing": int((mine != theirs).sum()), "dice": dice}


def world_compare(mask_file, reference_file):
    """compare() over the voxel centres of MASK_FILE, each looked up in REFERENCE_FILE through both affines."""
    mine, theirs = nib.load(mask_file), nib.load(reference_file)
    ijk = np.indices(mine.shape).reshape(3, -1)
    world = mine.affine[:3, :3] @ ijk + mine.affine[:3, 3:]
    index = np.linalg.inv(theirs.affine)[:3, :3] @ world + np.linalg.inv(theirs.affine)[:3, 3:]
    nearest = np.rint(index)
    if np.abs(index - nearest).max() > 1e-3:
        return {"error": f"voxel centres {np.abs(index - nearest).max():.3f} voxels off nnU-Net's grid"}
    nearest = nearest.astype(np.int64)
    inside = np.all((nearest >= 0) & (nearest < np.array(theirs.shape)[:, None]), axis=0)
    if not inside.all():
        return {"error": f"{int((~inside).sum())} voxel centres outside the other grid"}
    a = np.asanyarray(mine.dataobj).astype(np.int32).reshape(-1)  # C order, as ijk
    b = np.asanyarray(theirs.dataobj).astype(np.int32)[tuple(nearest)]
    dice = {}
    for label in sorted((set(np.unique(a)) | set(np.unique(b))) - {0}):
        x, y = a == label, b == label
        dice[int(label)] = 2.0 * np.logical_and(x, y).sum() / (x.sum() + y.sum())
    return {"agreement": float((a == b).mean()), "differing": int((a != b).sum()), "dice": dice}


def passes(figures):
    return "error" not in figures and figures["agreement"] >= MIN_AGREEMENT and \
        all(d >= MIN_DICE for d in figures["dice"].values())


def summary(figures):
    dice = " ".join(f"{k}: {v:.4f}" for k, v in figures.get("dice", {}).items())
    return figures.get("error") or f"agreement {100 * figures['agreement']:.3f} % ({figures['differing']} voxels), Dice {dice}"


def check_dcm2niix(series, nifti, work):
    """Debian's dcm2niix converts SERIES to NIFTI's voxels and affine (None: dcm2niix absent)."""
    if not shutil.which("dcm2niix"):
        return None
    out = os.path.join(work, "dcm2niix")
    os.makedirs(out)
    done = run(["dcm2niix", "-z", "n", "-b", "n", "-f", "series", "-o", out, series])
    converted = glob.glob(os.path.join(out, "series*.nii"))
    if done.returncode != 0 or len(converted) != 1:
        return f"dcm2niix failed ({done.returncode}): {converted} {done.stdout[-500:]}"
    a, b = nib.load(converted[0]), nib.load(nifti)
    if a.shape != b.shape or np.abs(a.affine - b.affine).max() > 1e-4 or \
            not np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)):
        return f"dcm2niix gives {a.shape} and another affine or voxels than the NIfTI input {b.shape}"
    return ""


def check_dicom(medpipe, data, dataset, folds, package, nifti_masks, dicom, work, rows):
    """Each CASE=SERIES of DICOM through `medpipe run`, against the NIfTI input's mask and nnU-Net's."""
    ok = True
    for case, series in dicom.items():
        nifti = os.path.join(data, dataset, "inputs", case + "_0000.nii.gz")
        if not os.path.isdir(series) or not os.path.isfile(nifti):
            print(f"skipped {dataset} {case} as DICOM: {series} or {nifti} absent")
            continue
        converted = check_dcm2niix(series, nifti, work)
        if converted:
            print(f"FAIL {dataset} {case}: {converted}")
            ok = False
        inputs = os.path.join(work, f"in_dicom_{case}")
        os.makedirs(inputs)
        os.symlink(series, os.path.join(inputs, case))
        out = os.path.join(work, f"out_dicom_{dataset}_{folds}_{case}")
        done = run([medpipe, "run", inputs, out, "--model", package, "--device", "cpu", "--batch-size", "1",
                    "--output-types", "nifti"])
        masks = list(masks_by_case(out).values())
        if done.returncode != 0 or len(masks) != 1 or case + "_0000.nii.gz" not in nifti_masks:
            print(f"FAIL {dataset} {folds} {case} as DICOM: exit {done.returncode}, {len(masks)} mask(s)\n"
                  f"{done.stderr[-2000:]}")
            ok = False
            continue
        mask, analysis = masks[0]
        reversed_rows = analysis.get("nnunet", {}).get("dicom_rows_reversed")
        for against, other in (("the NIfTI's mask", nifti_masks[case + "_0000.nii.gz"][0]),
                               ("nnU-Net's", os.path.join(data, dataset, "reference", folds, case + ".nii.gz"))):
            figures = world_compare(mask, other)
            figures.update(dataset=dataset, folds=folds, case=case + " (DICOM)", against=against,
                           dcm2niix_same_as_input=converted == "" if converted is not None else None,
                           dicom_rows_reversed=reversed_rows)
            rows.append(figures)
            passed = passes(figures) and reversed_rows is True
            ok &= passed
            print(f"{'ok  ' if passed else 'FAIL'} {dataset} {folds} {case} DICOM vs {against}: {summary(figures)}; "
                  f"rows reversed {reversed_rows}, dcm2niix {'absent' if converted is None else 'same as the input' if converted == '' else 'differs'}")
    return ok


def check_set(medpipe, data, spec, cases, work, rows, dicom):
    dataset, folds = spec.split(":")
    package = os.path.join(work, f"{dataset}_{folds}")
    import_s = import_model(medpipe, data, dataset, folds, package)
    inputs = os.path.join(work, f"in_{dataset}_{folds}")
    os.makedirs(inputs)
    for image in sorted(glob.glob(os.path.join(data, dataset, "inputs", "*_0000.nii.gz"))):
        case = os.path.basename(image)[:-len("_0000.nii.gz")]
        if not cases or case in cases:
            os.symlink(image, os.path.join(inputs, os.path.basename(image)))
    out = os.path.join(work, f"out_{dataset}_{folds}")
    start = time.perf_counter()
    done = run([medpipe, "run", inputs, out, "--model", package, "--device", "cpu", "--batch-size", "1",
                "--output-types", "nifti"])
    run_s = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"medpipe run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    masks = masks_by_case(out)
    ok = True
    for image in sorted(os.listdir(inputs)):
        case = image[:-len("_0000.nii.gz")]
        if image not in masks:
            print(f"FAIL {dataset} {folds} {case}: no mask written")
            ok = False
            continue
        mask, analysis = masks[image]
        figures = compare(mask, os.path.join(data, dataset, "reference", folds, case + ".nii.gz"))
        timings = analysis.get("timings_ms", {})
        figures.update(dataset=dataset, folds=folds, case=case, tiles=analysis.get("patches"),
                       seconds={k: round(v / 1000, 2) for k, v in timings.items()})
        rows.append(figures)
        passed = passes(figures)
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {dataset} {folds} {case}: {summary(figures)}; tiles {figures['tiles']}, "
              f"s {figures['seconds']}")
    print(f"{dataset} {folds}: import {import_s:.1f} s, medpipe run {run_s:.1f} s for {len(os.listdir(inputs))} case(s)")
    wanted = {case: series for case, series in dicom.items() if not cases or case in cases}
    if wanted and any(os.path.isfile(os.path.join(data, dataset, "inputs", case + "_0000.nii.gz")) for case in wanted):
        ok &= check_dicom(medpipe, data, dataset, folds, package, masks, wanted, work, rows)
    return ok


def check_refusals(medpipe, data, work):
    """A cascade and a missing fold: exit 2, the exporter's reason, no package and no temporary folder left."""
    dataset = "Dataset501_Hippocampus"
    trainer = glob.glob(os.path.join(data, dataset, "model", dataset, "*__*__3d_fullres"))[0]
    fake = os.path.join(work, "refusals", dataset)
    cascade = os.path.join(fake, "nnUNetTrainer__nnUNetPlans__3d_cascade_fullres")
    os.makedirs(cascade)
    with open(os.path.join(trainer, "plans.json")) as f:
        plans = json.load(f)
    plans["configurations"]["3d_cascade_fullres"] = {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
    with open(os.path.join(cascade, "plans.json"), "w") as f:
        json.dump(plans, f)
    for name in ("dataset.json", "fold_0"):
        os.symlink(os.path.join(trainer, name), os.path.join(cascade, name))
    parent = os.path.join(work, "refused")
    os.makedirs(parent)
    attempts = [("cascade", [fake, "--configuration", "3d_cascade_fullres"], "is a cascade"),
                ("missing fold", [os.path.join(data, dataset, "model", dataset), "--folds", "0,3"], "fold_3")]
    ok = True
    for what, arguments, reason in attempts:
        out = os.path.join(parent, what.replace(" ", "_"))
        done = run([medpipe, "model", "import", "nnunet", *arguments, "--out", out])
        left = os.listdir(parent)
        passed = done.returncode == 2 and reason in done.stderr and not left
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} refused {what}: exit {done.returncode}, left {left}, "
              f"message: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '(none)'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medpipe", required=True)
    parser.add_argument("--data", required=True, help="../shared/data/nnunet")
    parser.add_argument("--set", action="append", default=[], help="DATASET:fold_0 or DATASET:folds_0_1")
    parser.add_argument("--cases", default="", help="comma list of case names (default: every input)")
    parser.add_argument("--dicom", action="append", default=[],
                        help="CASE=SERIES_DIR: the DICOM series CASE's NIfTI input was converted from")
    parser.add_argument("--refusals", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if not os.path.isdir(args.data):
        print(f"{args.data} is absent (see ../shared/data/README.md); skipped")
        return 77
    data = os.path.abspath(args.data)  # the inputs are linked to from a temporary folder
    cases = set(filter(None, args.cases.split(",")))
    dicom = dict(item.split("=", 1) for item in args.dicom)
    rows, ok = [], True
    work = tempfile.mkdtemp(prefix="nnunet_run_test_")
    try:
        for spec in args.set:
            ok &= check_set(args.medpipe, data, spec, cases, work, rows, dicom)
        if args.refusals:
            ok &= check_refusals(args.medpipe, data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
