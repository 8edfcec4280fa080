#!/usr/bin/python3
"""nnU-Net's 2d and 3d_lowres configurations through `medpipe model import nnunet` and `medpipe run`, against
scripts/lib/nnunet_inference.py (the numpy/scipy/torch re-implementation of nnU-Net's predictor, which follows
nnU-Net's code for 2d: target spacing [the image's d0, *plan], patch padding of the last two axes, one d0 slice per
tile, 2-D Gaussian and mirroring) run on the same exported model.pt.

../shared/data/nnunet has no nnU-Net predictions for these configurations, so the results folders are built by
tests/nnunet/make_configuration_fixture.py from its trainer folders: 2d from the plans' own 2d entry with an
nnU-Net-initialised 2-D network, 3d_lowres from a plans copy whose 3d_lowres inherits_from 3d_fullres, with the
trained 3d_fullres weights. Per case the masks must agree voxel for voxel (>= MIN_AGREEMENT, every label's Dice
>= MIN_DICE; the figures printed give the exact count). Exit 0 pass, 1 fail, 77 reference data absent.

usage: tests/nnunet/configurations_test.py --medpipe BIN --data ../shared/data/nnunet
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
sys.path.insert(0, HERE)
from nnunet_inference import predict_case  # noqa: E402
from nnunet_run_test import compare, masks_by_case, run, summary  # noqa: E402

MIN_AGREEMENT = 0.9999
MIN_DICE = 0.999
# (dataset, trainer folder, configuration, cases)
SETS = [("Dataset501_Hippocampus", "nnUNetTrainer__nnUNetPlans__3d_fullres", "2d",
         ["hippocampus_015", "hippocampus_020permuted", "hippocampus_040"]),
        ("Dataset501_Hippocampus", "nnUNetTrainer__nnUNetPlans__3d_fullres", "3d_lowres",
         ["hippocampus_015", "hippocampus_020permuted", "hippocampus_040"]),
        ("Dataset502_CTOrgans", "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres", "2d", ["example_ct_sm"]),
        ("Dataset502_CTOrgans", "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres", "3d_lowres", ["example_ct_sm"])]


def build_results(data, dataset, trainer, configuration, work, extra=()):
    """The fixture's results folder (DatasetXXX_Name/)."""
    source = os.path.join(data, dataset, "model", dataset, trainer)
    out = os.path.join(work, f"results_{dataset}_{configuration}")
    done = run([sys.executable, os.path.join(HERE, "make_configuration_fixture.py"), source, out, configuration, *extra])
    if done.returncode != 0:
        raise RuntimeError(f"fixture for {dataset} {configuration} failed:\n{done.stderr[-2000:]}")
    return os.path.join(out, dataset)


def import_and_run(medpipe, results, configuration, inputs, work, name, extra=()):
    """(package, {input file name: (mask, analysis)}) after `medpipe model import nnunet` and `medpipe run`."""
    package = os.path.join(work, f"package_{name}")
    done = run([medpipe, "model", "import", "nnunet", results, "--configuration", configuration, "--out", package, *extra])
    if done.returncode != 0:
        raise RuntimeError(f"import of {results} {configuration} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = os.path.join(work, f"out_{name}")
    done = run([medpipe, "run", inputs, out, "--model", package, "--device", "cpu", "--batch-size", "1",
                "--output-types", "nifti"])
    if done.returncode != 0:
        raise RuntimeError(f"medpipe run with {package} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return package, masks_by_case(out)


def link_inputs(data, dataset, cases, folder):
    os.makedirs(folder)
    for case in cases:
        os.symlink(os.path.join(data, dataset, "inputs", case + "_0000.nii.gz"), os.path.join(folder, case + "_0000.nii.gz"))
    return folder


def reference_labels(package, image):
    """nnunet_inference.predict_case on PACKAGE's model.pt with nnU-Net's arithmetic (per fold, float16)."""
    with open(os.path.join(package, "nnunet.json")) as f:
        plan = json.load(f)
    model = torch.jit.load(os.path.join(package, "model.pt")).eval()
    return predict_case(model, [image], plan, tile_batch=8)


def write_labels(labels, like, path):
    """LABELS (NIfTI voxel order) as a NIfTI file on LIKE's grid, for compare()."""
    image = nib.load(like)
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), image.affine), path)
    return path


def check_configuration(medpipe, data, dataset, trainer, configuration, cases, work):
    name = f"{dataset}_{configuration}"
    results = build_results(data, dataset, trainer, configuration, work)
    inputs = link_inputs(data, dataset, cases, os.path.join(work, f"in_{name}"))
    package, masks = import_and_run(medpipe, results, configuration, inputs, work, name)
    ok = True
    for case in cases:
        image = os.path.join(inputs, case + "_0000.nii.gz")
        if os.path.basename(image) not in masks:
            print(f"FAIL {name} {case}: no mask written")
            ok = False
            continue
        mask, analysis = masks[os.path.basename(image)]
        reference = reference_labels(package, image)
        figures = compare(mask, write_labels(reference["labels"], image, os.path.join(work, f"ref_{name}_{case}.nii.gz")))
        passed = "error" not in figures and figures["agreement"] >= MIN_AGREEMENT and \
            all(d >= MIN_DICE for d in figures["dice"].values()) and analysis.get("patches") == reference["tiles"]
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {name} {case}: {summary(figures)}; tiles {analysis.get('patches')} "
              f"(reference {reference['tiles']}), preprocessed {reference['preprocessed_shape']}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medpipe", required=True)
    parser.add_argument("--data", required=True, help="../shared/data/nnunet")
    args = parser.parse_args()
    if not os.path.isdir(args.data):
        print(f"{args.data} is absent (see ../shared/data/README.md); skipped")
        return 77
    data = os.path.abspath(args.data)
    torch.set_num_threads(2)
    work = tempfile.mkdtemp(prefix="nnunet_configurations_test_")
    ok = True
    try:
        for dataset, trainer, configuration, cases in SETS:
            ok &= check_configuration(args.medpipe, data, dataset, trainer, configuration, cases, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
