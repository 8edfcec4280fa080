#!/usr/bin/python3
"""`medpipe model import totalsegmentator` and `medpipe run` on a model group, against TotalSegmentator's own
steps written out in Python (tests/nnunet/totalseg_reference.py's change_spacing and undo_canonical, nnU-Net's
prediction by scripts/lib/nnunet_inference.py, the multi-part merge of its nnunet.py).

No TotalSegmentator weights are stored here, so the weights folders are built from the CT reference model
(../shared/data/nnunet/Dataset502_CTOrgans) laid out as TotalSegmentator downloads its parts. Its six labels are renamed
to the first six names of two of TotalSegmentator's parts (class_map_5_parts, as configs/totalsegmentator/class_maps.json
holds them): Dataset291_TotalOrgans (fold 0, organs) and Dataset293_TotalCardiac (fold 1 as fold_0, cardiac). Checks:
- a missing part (--parts 291,293,292) is refused with exit 2, naming Dataset292_*, nothing written;
- a dataset.json label renamed (291's label 3 'kidney_lft') is refused with exit 2, naming the part, the value and both
  names, nothing written; --parts mixing the task's datasets with others is refused;
- the group imports; group.json's class maps give each part value TotalSegmentator's class_map["total"] value of its
  name (organs 1-6 -> 1-6, cardiac 1-6 -> 51-56: liver 5, aorta 52);
- `medpipe run` on example_ct_sm (3 mm) gives, voxel for voxel, the reference's merged map on the input grid;
- on TotalSegmentator's example DICOM series, SEG segments and RTSTRUCT ROIs carry TotalSegmentator's SNOMED CT codes
  (pydicom), the NIfTI's values are class_map["total"] values, and dciodvfy reports no errors;
- total_fast (Dataset297, 3 mm) is checked against class_map["total"] itself (a renamed label refused) and keeps its
  values, its labels coded (liver SCT 10200004);
- a custom group of other datasets (--parts 501,502, unchecked) still numbers labels by name in part order.
Exit 0 pass, 1 fail, 77 reference data absent.

usage: tests/nnunet/totalseg_group_test.py --medpipe BIN --data DIR
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
from nnunet_inference import predict_case  # noqa: E402
from totalseg_reference import change_spacing, undo_canonical  # noqa: E402
from configurations_test import CT_DICOM, copy_with_identifiers, segment_codes  # noqa: E402

TRAINER = "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres"
CLASS_MAPS = os.path.join(HERE, "..", "..", "configs", "totalsegmentator", "class_maps.json")
CT_LABELS = ["liver", "spleen", "stomach", "kidney_right", "kidney_left", "aorta"]  # Dataset502_CTOrgans, values 1-6
RENAMED = {"liver": "liver", "spleen": "spleen_b", "stomach": "stomach_b", "kidney_right": "kidney_right",
           "kidney_left": "kidney_left_b", "aorta": "aorta_b"}


def part_folder(weights, name, source_trainer, fold, rename, trainer_folder=TRAINER):
    """WEIGHTS/NAME/TRAINER_FOLDER as TotalSegmentator's download has it, its files linked to SOURCE_TRAINER's."""
    trainer = os.path.join(weights, name, trainer_folder)
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


def totalseg_names(class_maps, dataset):
    """The CT model's labels (value v) renamed to TotalSegmentator's name of value v in DATASET's part."""
    part = class_maps["tasks"]["total"]["parts"][str(dataset)]["labels"]
    return {name: part[str(value)] for value, name in enumerate(CT_LABELS, start=1)}


def import_group(medpipe, weights, parts, out):
    return subprocess.run([medpipe, "model", "import", "totalsegmentator", weights, "--parts", parts, "--out", out],
                          capture_output=True, text=True)


def nothing_left(work, name):
    return not (os.path.exists(os.path.join(work, name)) or glob.glob(os.path.join(work, f".{name}*")))


def run_group(medpipe, group, inputs, out, types):
    """`medpipe run` of GROUP on INPUTS: (process, [NIfTI masks])."""
    done = subprocess.run([medpipe, "run", inputs, out, "--model", group, "--device", "cpu", "--batch-size", "1",
                           "--output-types", types], capture_output=True, text=True)
    masks = [os.path.join(os.path.dirname(result_file), analysis["outputs"]["nifti"])
             for result_file in glob.glob(os.path.join(out, "studies", "*", "result.json"))
             for series in json.load(open(result_file)).get("series", [])
             for analysis in series.get("analyses", []) if "nifti" in analysis.get("outputs", {})]
    return done, masks


def check_refusals(medpipe, weights, source_trainer, class_maps, work):
    refused = import_group(medpipe, weights, "291,293,292", os.path.join(work, "refused"))
    named = "Dataset292_" in refused.stderr
    print(f"missing part: exit {refused.returncode}, names Dataset292_: {named}, nothing left: {nothing_left(work, 'refused')}")
    ok = refused.returncode == 2 and named and nothing_left(work, "refused")

    renamed_weights = os.path.join(work, "weights_renamed")
    names = totalseg_names(class_maps, 291)
    names["stomach"] = "kidney_lft"  # value 3, TotalSegmentator's kidney_left
    part_folder(renamed_weights, "Dataset291_TotalOrgans", source_trainer, 0, names)
    os.symlink(os.path.join(weights, "Dataset293_TotalCardiac"), os.path.join(renamed_weights, "Dataset293_TotalCardiac"))
    refused = import_group(medpipe, renamed_weights, "291,293", os.path.join(work, "renamed"))
    message = [line for line in refused.stderr.splitlines() if "kidney_lft" in line]
    expected = ["Dataset291_TotalOrgans", "label 3 is 'kidney_lft'", "calls it 'kidney_left'",
                "class_map_5_parts['class_map_part_organs']"]
    named = all(any(text in line for line in refused.stderr.splitlines()) for text in expected)
    print(f"renamed label: exit {refused.returncode}, message {message}, names part, value and both names: {named}, "
          f"nothing left: {nothing_left(work, 'renamed')}")
    ok &= refused.returncode == 2 and named and nothing_left(work, "renamed")

    refused = import_group(medpipe, weights, "291,501", os.path.join(work, "mixed"))
    print(f"mixed parts: exit {refused.returncode}: {refused.stderr.strip()[-200:]}")
    return ok and refused.returncode == 2 and "mixes" in refused.stderr and nothing_left(work, "mixed")


def roi_codes(rtstruct_file, total):
    """{class name: (category, type)} of an RTSTRUCT's observations, the name found by the ROI number as a
    class_map["total"] value (the observation label, SH, holds its first 16 characters; None if it does not)."""
    import pydicom
    code = lambda item: (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning)  # noqa: E731
    rois = {}
    for o in pydicom.dcmread(rtstruct_file).RTROIObservationsSequence:
        name = total.get(int(o.ReferencedROINumber), "")
        rois[name if o.ROIObservationLabel == name[:16] else None] = (
            code(o.SegmentedPropertyCategoryCodeSequence[0]), code(o.RTROIIdentificationCodeSequence[0]))
    return rois


def check_dicom_codes(medpipe, data, group, class_maps, work):
    """The group on TotalSegmentator's example DICOM series: SEG and RTSTRUCT codes, NIfTI values, dciodvfy."""
    series = os.path.join(os.path.dirname(data), CT_DICOM)
    if not os.path.isdir(series):
        print(f"skipped the DICOM check: {series} absent")
        return True
    inputs = os.path.join(work, "in_dicom")
    copy_with_identifiers(series, os.path.join(inputs, "example_ct_dicom"))
    out = os.path.join(work, "out_dicom")
    done, masks = run_group(medpipe, group, inputs, out, "nifti,seg,rtstruct")
    segs = glob.glob(os.path.join(out, "studies", "**", "*_seg.dcm"), recursive=True)
    rtstructs = [f for f in glob.glob(os.path.join(out, "studies", "**", "*.dcm"), recursive=True) if f not in segs]
    if done.returncode != 0 or len(masks) != 1 or len(segs) != 1 or len(rtstructs) != 1:
        print(f"FAIL DICOM run ({done.returncode}): masks {masks}, SEG {segs}, RTSTRUCT {rtstructs}\n{done.stderr[-3000:]}")
        return False
    total = {int(k): v for k, v in class_maps["class_map_total"].items()}
    code = lambda c: (c["CodeValue"], c["CodingSchemeDesignator"], c["CodeMeaning"])  # noqa: E731
    expected = {}
    for name, item in class_maps["segment_attributes"].items():
        modifier = item.get("SegmentedPropertyTypeModifierCodeSequence")
        expected[name] = (code(item["SegmentedPropertyCategoryCodeSequence"]), code(item["SegmentedPropertyTypeCodeSequence"]),
                          [code(modifier)] if modifier else [])
    codes = segment_codes(segs[0])
    rois = roi_codes(rtstructs[0], total)
    seg_ok = len(codes) > 0 and all(expected.get(label) == value for label, value in codes.items())
    roi_ok = len(rois) > 0 and all(expected.get(label, (None, None))[:2] == value for label, value in rois.items())
    values = sorted(int(v) for v in np.unique(np.asarray(nib.load(masks[0]).dataobj)) if v)
    present = {v: total.get(v) for v in values}
    values_ok = len(values) > 0 and all(v in range(1, 7) or v in range(51, 57) for v in values)
    errors = []
    for dicom_file in (segs[0], rtstructs[0]):
        validator = subprocess.run(["dciodvfy", dicom_file], capture_output=True, text=True)
        errors += [line for line in (validator.stdout + validator.stderr).splitlines() if line.startswith("Error")]
    print(f"example_ct_dicom: NIfTI values {present}; SEG segments with TotalSegmentator's codes: {seg_ok} {codes}; "
          f"RTSTRUCT ROIs with them: {roi_ok} {sorted(rois)}; dciodvfy errors {errors}")
    return seg_ok and roi_ok and values_ok and not errors


def check_total_fast(medpipe, source_trainer, class_maps, work):
    """total_fast's one part (Dataset297) predicts class_map["total"] itself: its names must be those values' names."""
    total = class_maps["class_map_total"]
    weights = os.path.join(work, "weights_fast")
    trainer = "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres"
    names = {name: total[str(value)] for value, name in enumerate(CT_LABELS, start=1)}
    part_folder(weights, "Dataset297_TotalFast", source_trainer, 0, dict(names, aorta="aorta"), trainer)
    refused = subprocess.run([medpipe, "model", "import", "totalsegmentator", weights, "--task", "total_fast",
                              "--out", os.path.join(work, "fast_refused")], capture_output=True, text=True)
    named = "label 6 is 'aorta'; TotalSegmentator's class_map['total'] calls it 'stomach'" in refused.stderr
    print(f"total_fast with label 6 'aorta': exit {refused.returncode}, names it: {named}, "
          f"nothing left: {nothing_left(work, 'fast_refused')}")
    ok = refused.returncode == 2 and named and nothing_left(work, "fast_refused")
    shutil.rmtree(weights)
    part_folder(weights, "Dataset297_TotalFast", source_trainer, 0, names, trainer)
    group = os.path.join(work, "models", "fast")
    done = subprocess.run([medpipe, "model", "import", "totalsegmentator", weights, "--task", "total_fast", "--out", group],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"FAIL total_fast import ({done.returncode}):\n{done.stderr[-3000:]}")
        return False
    with open(os.path.join(group, "group.json")) as f:
        spec = json.load(f)
    with open(os.path.join(group, spec["parts"][0]["package"], "manifest.json")) as f:
        liver = [label for label in json.load(f)["output"]["labels"] if label["name"] == "liver"]
    got = spec["parts"][0]["class_map"]
    print(f"total_fast: class map {got}, spacing {spec['totalsegmentator']['resample_mm']} mm, liver's codes {liver}")
    return ok and got == {str(v): v for v in range(1, 7)} and spec["totalsegmentator"]["resample_mm"] == 3.0 and \
        len(liver) == 1 and liver[0]["type"]["code"] == "10200004" and liver[0]["laterality"] == "unpaired"


def check_custom_group(medpipe, weights, source_trainer, work):
    """Datasets that are not the task's: labels numbered by name in part order, unchecked (as before the class maps)."""
    maps = [part_folder(weights, "Dataset501_PartA", source_trainer, 0, {k: k for k in RENAMED}),
            part_folder(weights, "Dataset502_PartB", source_trainer, 1, RENAMED)]
    group = os.path.join(work, "models", "custom")
    done = import_group(medpipe, weights, "501,502", group)
    if done.returncode != 0:
        print(f"FAIL custom import ({done.returncode}):\n{done.stderr[-3000:]}")
        return False
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
    print(f"custom group class maps: {got} (expected {expected}); class maps recorded: {'class_maps' in spec['totalsegmentator']}")
    return got == expected and "class_maps" not in spec["totalsegmentator"]


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
    with open(CLASS_MAPS) as f:
        class_maps = json.load(f)
    total = {int(k): v for k, v in class_maps["class_map_total"].items()}
    inverse = {name: value for value, name in total.items()}
    ok = True
    with tempfile.TemporaryDirectory(prefix="totalseg_group_") as work:
        weights = os.path.join(work, "weights")
        maps = [part_folder(weights, "Dataset291_TotalOrgans", source_trainer, 0, totalseg_names(class_maps, 291)),
                part_folder(weights, "Dataset293_TotalCardiac", source_trainer, 1, totalseg_names(class_maps, 293))]
        ok &= check_custom_group(args.medpipe, weights, source_trainer, work)
        ok &= check_refusals(args.medpipe, weights, source_trainer, class_maps, work)
        ok &= check_total_fast(args.medpipe, source_trainer, class_maps, work)

        group = os.path.join(work, "models", "total2")
        done = import_group(args.medpipe, weights, "291,293", group)
        if done.returncode != 0:
            print(f"FAIL import ({done.returncode}):\n{done.stderr[-3000:]}")
            return 1
        with open(os.path.join(group, "group.json")) as f:
            spec = json.load(f)
        expected = [{str(v): inverse[name] for v, name in sorted(m.items())} for m in maps]
        got = [part["class_map"] for part in spec["parts"]]
        # TotalSegmentator's class_map["total"]: liver 5, aorta 52 (map_to_binary.py).
        spot = inverse["liver"] == 5 and inverse["aorta"] == 52 and got[0]["5"] == 5 and got[1]["2"] == 52
        print(f"class maps: {got} (expected {expected}, liver 5 and aorta 52: {spot}); task {spec['totalsegmentator']}")
        ok &= got == expected and spot and spec["totalsegmentator"]["resample_mm"] == 1.5 and \
            spec["totalsegmentator"]["tile_step_size"] == 0.8 and \
            spec["totalsegmentator"]["class_maps"] == class_maps["source"]

        inputs = os.path.join(work, "inputs")
        os.makedirs(inputs)
        case = "example_ct_sm_0000.nii.gz"
        os.symlink(os.path.join(dataset, "inputs", case), os.path.join(inputs, case))
        done, masks = run_group(args.medpipe, group, inputs, os.path.join(work, "out"), "nifti")
        if done.returncode != 0 or len(masks) != 1:
            print(f"FAIL medpipe run ({done.returncode}), masks {masks}:\n{done.stderr[-3000:]}")
            return 1
        mine = np.asarray(nib.load(masks[0]).dataobj).astype(np.uint8)
        parts = [(os.path.join(group, part["package"]), m) for part, m in zip(spec["parts"], maps)]
        theirs = reference(os.path.join(inputs, case), parts, total, 1.5, 0.8, work)
        differing = int(np.sum(mine != theirs))
        labels = sorted(int(v) for v in np.unique(theirs) if v)
        print(f"{case}: {differing} of {mine.size} voxels differ from TotalSegmentator's steps; labels present "
              f"{ {v: total[v] for v in labels} }; voxels per label { {v: int(np.sum(theirs == v)) for v in labels} }")
        ok &= mine.shape == theirs.shape and differing == 0 and len(labels) > 3 and any(v > 50 for v in labels)

        ok &= check_dicom_codes(args.medpipe, args.data, group, class_maps, work)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
