#!/usr/bin/python3
"""`medpipe model import totalsegmentator` and `medpipe run` on a model group, against TotalSegmentator's own
steps written out in Python (tests/nnunet/totalseg_reference.py's change_spacing and undo_canonical, nnU-Net's
prediction by scripts/lib/nnunet_inference.py, the multi-part merge of its nnunet.py).

No TotalSegmentator weights are stored here, so the weights folder is built from the CT reference model
(../shared/data/nnunet/Dataset502_CTOrgans) laid out as TotalSegmentator downloads its parts:
Dataset291_PartA (fold 0, its own labels) and Dataset292_PartB (fold 1 as fold_0, with labels renamed so that
two keep their names: the later part overwrites those, the others get new group values). Checks:
- a missing part (--parts 291,292,293) is refused with exit 2, naming Dataset293_*, nothing written;
- the group imports; group.json's class maps are the parts' labels concatenated, one value per name;
- `medpipe run` on example_ct_sm (3 mm) gives, voxel for voxel, the reference's merged map on the input grid.
Exit 0 pass, 1 fail, 77 reference data absent.

usage: tests/nnunet/totalseg_group_test.py --medpipe BIN --data DIR
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
from nnunet_inference import predict_case  # noqa: E402
from totalseg_reference import change_spacing, undo_canonical  # noqa: E402

TRAINER = "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres"
RENAMED = {"liver": "liver", "spleen": "spleen_b", "stomach": "stomach_b", "kidney_right": "kidney_right",
           "kidney_left": "kidney_left_b", "aorta": "aorta_b"}


def part_folder(weights, name, source_trainer, fold, rename):
    """WEIGHTS/NAME/TRAINER as TotalSegmentator's download has it, its files linked to SOURCE_TRAINER's."""
    trainer = os.path.join(weights, name, TRAINER)
    os.makedirs(trainer)
    for entry in os.listdir(source_trainer):
        if entry.startswith("fold_") or entry == "dataset.json":
            continue
        os.symlink(os.path.join(source_trainer, entry), os.path.join(trainer, entry))
    os.symlink(os.path.join(source_trainer, f"fold_{fold}"), os.path.join(trainer, "fold_0"))
    with open(os.path.join(source_trainer, "dataset.json")) as f:
        dataset = json.load(f)
    dataset["labels"] = {("background" if k == "background" else rename[k]): v for k, v in dataset["labels"].items()}
    with open(os.path.join(trainer, "dataset.json"), "w") as f:
        json.dump(dataset, f, indent=2)
    return {v: k for k, v in dataset["labels"].items() if v != 0}


def reference(image_path, parts, class_map, spacing, step, work):
    """nnUNet_predict_image for a multi-part task: canonical, change_spacing (order 3, int32), each part's nnU-Net
    prediction with TotalSegmentator's tile step, merge in part order through the names, back (order 0), undo."""
    img_in_orig = nib.load(image_path)
    img_in = nib.as_closest_canonical(nib.Nifti1Image(img_in_orig.get_fdata(), img_in_orig.affine))
    img_in_rsp = change_spacing(img_in, [spacing] * 3, order=3, dtype=np.int32)
    s01 = os.path.join(work, "s01_0000.nii.gz")
    nib.save(img_in_rsp, s01)
    class_map_inv = {name: value for value, name in class_map.items()}
    seg_combined = np.zeros(img_in_rsp.shape, dtype=np.uint8)
    for package, part_map in parts:
        with open(os.path.join(package, "nnunet.json")) as f:
            plan = json.load(f)
        plan["inference"]["tile_step_size"] = step
        model = torch.jit.load(os.path.join(package, "model.pt")).eval()
        seg = predict_case(model, [s01], plan)["labels"]
        for jdx, class_name in part_map.items():
            seg_combined[seg == jdx] = class_map_inv[class_name]
    img_pred = nib.Nifti1Image(seg_combined, img_in_rsp.affine)
    img_pred = change_spacing(img_pred, [spacing] * 3, img_in.shape, order=0, dtype=np.uint8, force_affine=img_in.affine)
    return np.asarray(undo_canonical(img_pred, img_in_orig).dataobj).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--medpipe", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    dataset = os.path.join(args.data, "Dataset502_CTOrgans")
    source_trainer = os.path.join(dataset, "model", "Dataset502_CTOrgans", TRAINER)
    if not os.path.isdir(source_trainer):
        print(f"SKIP: {source_trainer} is absent")
        return 77
    ok = True
    with tempfile.TemporaryDirectory(prefix="totalseg_group_") as work:
        weights = os.path.join(work, "weights")
        maps = [part_folder(weights, "Dataset291_PartA", source_trainer, 0, {k: k for k in RENAMED}),
                part_folder(weights, "Dataset292_PartB", source_trainer, 1, RENAMED)]

        refused = subprocess.run([args.medpipe, "model", "import", "totalsegmentator", weights, "--parts", "291,292,293",
                                  "--out", os.path.join(work, "refused")], capture_output=True, text=True)
        named = "Dataset293_" in refused.stderr
        left = os.path.exists(os.path.join(work, "refused")) or glob.glob(os.path.join(work, ".refused*"))
        print(f"missing part: exit {refused.returncode}, names Dataset293_: {named}, left behind: {bool(left)}")
        ok &= refused.returncode == 2 and named and not left

        group = os.path.join(work, "models", "total2")
        done = subprocess.run([args.medpipe, "model", "import", "totalsegmentator", weights, "--parts", "291,292",
                               "--out", group], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"FAIL import ({done.returncode}):\n{done.stderr[-3000:]}")
            return 1
        with open(os.path.join(group, "group.json")) as f:
            spec = json.load(f)
        class_map = {}
        for part_map in maps:
            for value in sorted(part_map):
                if part_map[value] not in class_map.values():
                    class_map[len(class_map) + 1] = part_map[value]
        inverse = {name: value for value, name in class_map.items()}
        expected = [{str(v): inverse[name] for v, name in sorted(m.items())} for m in maps]
        got = [part["class_map"] for part in spec["parts"]]
        print(f"class maps: {got} (expected {expected}); task spacing {spec['totalsegmentator']}")
        ok &= got == expected and spec["totalsegmentator"] == {"task": "total", "resample_mm": 1.5, "tile_step_size": 0.8}

        inputs = os.path.join(work, "inputs")
        os.makedirs(inputs)
        case = "example_ct_sm_0000.nii.gz"
        os.symlink(os.path.join(dataset, "inputs", case), os.path.join(inputs, case))
        out = os.path.join(work, "out")
        done = subprocess.run([args.medpipe, "run", inputs, out, "--model", group, "--device", "cpu", "--batch-size", "1",
                               "--output-types", "nifti"], capture_output=True, text=True)
        masks = [os.path.join(os.path.dirname(result_file), analysis["outputs"]["nifti"])
                 for result_file in glob.glob(os.path.join(out, "studies", "*", "result.json"))
                 for series in json.load(open(result_file)).get("series", [])
                 for analysis in series.get("analyses", []) if "nifti" in analysis.get("outputs", {})]
        if done.returncode != 0 or len(masks) != 1:
            print(f"FAIL medpipe run ({done.returncode}), masks {masks}:\n{done.stderr[-3000:]}")
            return 1
        mine = np.asarray(nib.load(masks[0]).dataobj).astype(np.uint8)
        parts = [(os.path.join(group, part["package"]), m) for part, m in zip(spec["parts"], maps)]
        theirs = reference(os.path.join(inputs, case), parts, class_map, 1.5, 0.8, work)
        differing = int(np.sum(mine != theirs))
        labels = sorted(int(v) for v in np.unique(theirs) if v)
        overwritten = [inverse[n] for n in ("liver", "kidney_right")]
        print(f"{case}: {differing} of {mine.size} voxels differ from TotalSegmentator's steps; labels present {labels} "
              f"(overwritten by part B: {overwritten}); voxels per label "
              f"{ {v: int(np.sum(theirs == v)) for v in labels} }")
        ok &= mine.shape == theirs.shape and differing == 0 and len(labels) > 3
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
