#!/usr/bin/env python3
"""The manifest rule input.volume through `medpipe run` on dicom2nifti's real GE DTI (2 volumes: b 0 and
b 1000). A model that labels every voxel makes medpipe write the volume it read as the series' review
copy; nibabel compares that copy, voxel centre by voxel centre, with the chosen volume of the 4-D
ground truth. Rules that fit no volume fail the series naming it and the rule; a malformed rule fails
`medpipe model check` naming the manifest. Exit 77 (skip) without the shared data."""
import glob
import json
import os
import subprocess
import sys
import tempfile

import nibabel
import numpy
import torch

medpipe, data = sys.argv[1], sys.argv[2]
case = os.path.join(data, "dicom", "dicom2nifti", "tests", "data", "ge", "dti")
if not os.path.isdir(case):
    print("skipped: no " + case)
    sys.exit(77)
truth = nibabel.load(os.path.join(case, "001_ground_truth.nii.gz"))
truth_voxels = numpy.asarray(truth.dataobj)
failures = 0


def check(what, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


class EverythingLabelOne(torch.nn.Module):
    def forward(self, x):
        return torch.cat([torch.zeros_like(x), torch.ones_like(x)], 1)


def package(folder, volume_rule, name="dwi_reader"):
    os.makedirs(folder)
    torch.jit.script(EverythingLabelOne()).save(os.path.join(folder, "model.pt"))
    manifest = {
        "name": name, "version": "1.0.0", "task": "segmentation", "license": "CC0-1.0",
        "training_data": "none: labels every voxel", "sha256": "",
        "input": {"channels": [{"name": "DWI", "modality": "MR"}], "spatial_dims": 3, "patch_size": [32, 32, 4],
                  "normalisation": {"scheme": "zscore"}, "volume": volume_rule},
        "output": {"activation": "softmax", "labels": [{"value": 1, "name": "all", "laterality": "unpaired"}]},
        "golden": {"input_shape": [1, 1, 32, 32, 4]},
    }
    with open(os.path.join(folder, "manifest.json"), "w") as out:
        json.dump(manifest, out)
    return subprocess.run([medpipe, "model", "seal", folder], capture_output=True, text=True)


def run(volume_rule, work, second_rule=None):
    models = []
    for number, rule in enumerate([volume_rule] + ([second_rule] if second_rule else [])):
        models += ["--model", os.path.join(work, f"model{number}")]
        sealed = package(models[-1], rule, f"dwi_reader{number}")
        if sealed.returncode:
            sys.exit("cannot seal the test model: " + sealed.stdout + sealed.stderr)
    out = os.path.join(work, "out")
    subprocess.run([medpipe, "run", os.path.join(case, "001"), out, "--output-types", "nifti"] + models,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    [result] = glob.glob(os.path.join(out, "studies", "*", "result.json"))
    with open(result) as f:
        [series] = json.load(f)["series"]
    return series, os.path.dirname(result)


def same_world_voxels(copy, index):
    """Every voxel centre of COPY lands on a voxel centre of the ground truth (1e-3 mm) with its value."""
    ours = numpy.asarray(copy.dataobj)
    to_truth = numpy.linalg.inv(truth.affine) @ copy.affine
    ijk = numpy.indices(ours.shape).reshape(3, -1)
    where = to_truth[:3, :3] @ ijk + to_truth[:3, 3:4]
    nearest = numpy.rint(where)
    off_mm = numpy.abs(truth.affine[:3, :3] @ (where - nearest)).max()
    inside = all((nearest[a] >= 0).all() and (nearest[a] < truth.shape[a]).all() for a in range(3))
    if off_mm > 1e-3 or not inside:
        return False, f"centres off by {off_mm:.2g} mm, inside {inside}"
    picked = truth_voxels[nearest[0].astype(int), nearest[1].astype(int), nearest[2].astype(int), index]
    return numpy.array_equal(ours.reshape(-1), picked), f"{ours.size} voxels, centres within {off_mm:.2g} mm"


with tempfile.TemporaryDirectory() as work:
    series, folder = run({"b_value": 1000}, work)
    volume = series.get("volume", {})
    print("result.json volume:", json.dumps(volume))
    check("b_value 1000 reads volume 1 of 2",
          volume.get("volume_index") == 1 and volume.get("volume_count") == 2 and volume.get("b_value") == 1000 and
          volume.get("volume_rule") == "b_value 1000")
    copy = nibabel.load(os.path.join(folder, series["review_image"]))
    same, how = same_world_voxels(copy, 1)
    check("the volume read is the ground truth's b=1000 volume (" + how + ")", same)
    check("and not its b=0 volume", not same_world_voxels(copy, 0)[0])

with tempfile.TemporaryDirectory() as work:
    series, _ = run({"b_value": 1000}, work, second_rule="first")
    first, second = series["analyses"]
    print("a second model reading another volume:", second.get("error", ""))
    check("the first model's rule picks the volume; a second model wanting another fails on its own",
          series["volume"].get("volume_index") == 1 and "error" not in first and first.get("labels") and
          "input.volume first" in second.get("error", ""))

with tempfile.TemporaryDirectory() as work:
    package(os.path.join(work, "m"), {"b_value": 1000})
    dry = subprocess.run([medpipe, "run", os.path.join(case, "001"), os.path.join(work, "out"), "--model",
                          os.path.join(work, "m"), "--dry-run"], capture_output=True, text=True).stdout
    print("dry run:", dry.strip().splitlines()[-1] if dry.strip() else "")
    check("--dry-run names the volume the rule picks", "volume 1 of 2, dwi_reader's input.volume b_value 1000" in dry)

for rule, expected in (({"b_value": 500}, "b_value 500"), ({"index": 2}, "index 2")):
    with tempfile.TemporaryDirectory() as work:
        series, _ = run(rule, work)
        error = series.get("error", "")
        print(f"{expected}: {error}")
        check(expected + " fails the series naming it and the rule",
              not series.get("loaded", True) and expected in error and "series #" in error)

with tempfile.TemporaryDirectory() as work:
    sealed = package(os.path.join(work, "bad"), {"b_value": "high"})
    print("malformed rule:", sealed.stderr.strip())
    check("a malformed rule is refused naming the manifest and the field",
          sealed.returncode != 0 and "manifest.json" in sealed.stderr and "input.volume.b_value" in sealed.stderr)
sys.exit(1 if failures else 0)
