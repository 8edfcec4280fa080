#!/usr/bin/python3
"""nnU-Net's 2d and 3d_lowres configurations through `medpipe model import nnunet` and `medpipe run`, against
scripts/lib/nnunet_inference.py (the numpy/scipy/torch re-implementation of nnU-Net's predictor, which follows
nnU-Net's code for 2d: target spacing [the image's d0, *plan], patch padding of the last two axes, one d0 slice per
tile, 2-D Gaussian and mirroring) run on the same exported model.pt.

../shared/data/nnunet has no nnU-Net predictions for these configurations, so the results folders are built by
tests/nnunet/make_configuration_fixture.py from its trainer folders: 2d from the plans' own 2d entry with an
nnU-Net-initialised 2-D network, 3d_lowres from a plans copy whose 3d_lowres inherits_from 3d_fullres, with the
trained 3d_fullres weights. Per case the masks must agree voxel for voxel (>= MIN_AGREEMENT, every label's Dice
>= MIN_DICE; the figures printed give the exact count).

The CT 3d_lowres folder also has a crossval_results_folds_0/postprocessing.json (nnU-Net's largest-component
steps): the reference applies them with scipy.ndimage.label, they must change its labels, and the manifest must
record them. That model is imported with --segment-attributes tests/nnunet/ctorgans_segment_attributes.json (dcmqi
metainfo) and also run on the DICOM series the CT input was converted from: its mask is compared in world space,
its SEG must carry the file's category/type/modifier codes per segment and its RTSTRUCT the category/type per
ROI (pydicom), both passing dciodvfy. A metainfo
file that leaves a label out is refused, naming it, with nothing left behind.
Exit 0 pass, 1 fail, 77 reference data absent.

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
from nnunet_inference import keep_largest_component, predict_case  # noqa: E402
from nnunet_run_test import compare, masks_by_case, run, summary, world_compare  # noqa: E402

MIN_AGREEMENT = 0.9999
MIN_DICE = 0.999
HIPPOCAMPUS = ("Dataset501_Hippocampus", "nnUNetTrainer__nnUNetPlans__3d_fullres")
CT = ("Dataset502_CTOrgans", "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres")
CT_ATTRIBUTES = os.path.join(HERE, "ctorgans_segment_attributes.json")
# (dataset, trainer folder, configuration, cases, postprocessing steps (fixture), --segment-attributes)
SETS = [(*HIPPOCAMPUS, "2d", ["hippocampus_015", "hippocampus_020permuted", "hippocampus_040"], None, None),
        (*HIPPOCAMPUS, "3d_lowres", ["hippocampus_015", "hippocampus_020permuted", "hippocampus_040"], None, None),
        (*CT, "2d", ["example_ct_sm"], None, None),
        (*CT, "3d_lowres", ["example_ct_sm", "example_ct_dicom"], "1,2,3,4,5,6;4", CT_ATTRIBUTES)]
# The DICOM series example_ct_dicom's NIfTI input was converted from (dcm2niix), in ../shared/data/dicom.
CT_DICOM = os.path.join("dicom", "totalseg", "tests", "reference_files", "example_ct_dicom")


def build_results(data, dataset, trainer, configuration, work, extra=()):
    """The fixture's results folder (DatasetXXX_Name/)."""
    source = os.path.join(data, dataset, "model", dataset, trainer)
    out = os.path.join(work, f"results_{dataset}_{configuration}")
    done = run([sys.executable, os.path.join(HERE, "make_configuration_fixture.py"), source, out, configuration, *extra])
    if done.returncode != 0:
        raise RuntimeError(f"fixture for {dataset} {configuration} failed:\n{done.stderr[-2000:]}")
    return os.path.join(out, dataset)


def import_model(medpipe, results, configuration, package, extra=()):
    done = run([medpipe, "model", "import", "nnunet", results, "--configuration", configuration, "--out", package, *extra])
    if done.returncode != 0:
        raise RuntimeError(f"import of {results} {configuration} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return package


def run_model(medpipe, package, inputs, out, types="nifti"):
    """{input file name: (mask, analysis)} of `medpipe run`; OUT holds the rest."""
    done = run([medpipe, "run", inputs, out, "--model", package, "--device", "cpu", "--batch-size", "1",
                "--output-types", types])
    if done.returncode != 0:
        raise RuntimeError(f"medpipe run with {package} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return masks_by_case(out)


def link_inputs(data, dataset, cases, folder):
    os.makedirs(folder)
    for case in cases:
        os.symlink(os.path.join(data, dataset, "inputs", case + "_0000.nii.gz"), os.path.join(folder, case + "_0000.nii.gz"))
    return folder


def reference_labels(package, image):
    """nnunet_inference.predict_case on PACKAGE's model.pt with nnU-Net's arithmetic (per fold, float16), then
    nnunet.json's postprocessing steps; 'unprocessed' keeps the labels before them."""
    with open(os.path.join(package, "nnunet.json")) as f:
        plan = json.load(f)
    model = torch.jit.load(os.path.join(package, "model.pt")).eval()
    reference = predict_case(model, [image], plan, tile_batch=8)
    reference["unprocessed"] = reference["labels"]
    for step in (plan.get("postprocessing") or {}).get("steps", []):
        reference["labels"] = keep_largest_component(reference["labels"], step["labels"])
    return reference


def write_labels(labels, like, path):
    """LABELS (NIfTI voxel order) as a NIfTI file on LIKE's grid, for compare()."""
    image = nib.load(like)
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), image.affine), path)
    return path


def check_postprocessing(package, steps, reference, name, case):
    """The manifest records the fixture's steps, the model card names postprocessing.json, and the steps change
    the reference's labels (so a run without them would fail the comparison)."""
    with open(os.path.join(package, "manifest.json")) as f:
        recorded = json.load(f)["nnunet"].get("keep_largest_component")
    expected = [[int(v) for v in step.split(",")] for step in steps.split(";")] if steps else []
    with open(os.path.join(package, "MODEL_CARD.md")) as f:
        card = f.read()
    changed = int((reference["labels"] != reference["unprocessed"]).sum())
    passed = recorded == expected and (not steps or ("postprocessing.json" in card and changed > 0))
    if steps:
        print(f"{'ok  ' if passed else 'FAIL'} {name} {case}: postprocessing {recorded} in the manifest "
              f"(expected {expected}), {changed} voxels changed by it in the reference")
    return passed


def check_configuration(medpipe, data, dataset, trainer, configuration, cases, steps, attributes, work):
    name = f"{dataset}_{configuration}"
    results = build_results(data, dataset, trainer, configuration, work,
                            ("--postprocessing", steps) if steps else ())
    package = import_model(medpipe, results, configuration, os.path.join(work, f"package_{name}"),
                           ("--segment-attributes", attributes) if attributes else ())
    inputs = link_inputs(data, dataset, cases, os.path.join(work, f"in_{name}"))
    masks = run_model(medpipe, package, inputs, os.path.join(work, f"out_{name}"))
    ok = True
    for case in cases:
        image = os.path.join(inputs, case + "_0000.nii.gz")
        if os.path.basename(image) not in masks:
            print(f"FAIL {name} {case}: no mask written")
            ok = False
            continue
        mask, analysis = masks[os.path.basename(image)]
        reference = reference_labels(package, image)
        reference_file = write_labels(reference["labels"], image, os.path.join(work, f"ref_{name}_{case}.nii.gz"))
        figures = compare(mask, reference_file)
        passed = passes(figures) and analysis.get("patches") == reference["tiles"]
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} {name} {case}: {summary(figures)}; tiles {analysis.get('patches')} "
              f"(reference {reference['tiles']}), preprocessed {reference['preprocessed_shape']}")
        ok &= check_postprocessing(package, steps, reference, name, case)
        if case == "example_ct_dicom":
            ok &= check_dicom_seg(medpipe, data, package, reference_file, attributes, work, name)
    if attributes:
        ok &= check_attributes_refused(medpipe, results, configuration, attributes, work)
    return ok


def passes(figures):
    return "error" not in figures and figures["agreement"] >= MIN_AGREEMENT and \
        all(d >= MIN_DICE for d in figures["dice"].values())


def segment_codes(seg_file):
    """{segment label: (category, type, modifiers)} of a DICOM SEG, each code as (value, scheme, meaning)."""
    import pydicom
    codes = {}
    for segment in pydicom.dcmread(seg_file).SegmentSequence:
        code = lambda item: (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning)  # noqa: E731
        modifiers = [code(m) for m in segment.SegmentedPropertyTypeCodeSequence[0].get(
            "SegmentedPropertyTypeModifierCodeSequence", [])]
        codes[segment.SegmentLabel] = (code(segment.SegmentedPropertyCategoryCodeSequence[0]),
                                       code(segment.SegmentedPropertyTypeCodeSequence[0]), modifiers)
    return codes


def roi_codes(rtstruct_file):
    """{ROI observation label: (category, type)} of an RTSTRUCT, each code as (value, scheme, meaning)."""
    import pydicom
    code = lambda item: (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning)  # noqa: E731
    return {o.ROIObservationLabel: (code(o.SegmentedPropertyCategoryCodeSequence[0]),
                                    code(o.RTROIIdentificationCodeSequence[0]))
            for o in pydicom.dcmread(rtstruct_file).RTROIObservationsSequence}


def expected_codes(attributes, package):
    """What the SEG should say per label name: the metainfo's codes."""
    with open(attributes) as f:
        items = {item["labelID"]: item for group in json.load(f)["segmentAttributes"] for item in group}
    with open(os.path.join(package, "manifest.json")) as f:
        labels = json.load(f)["output"]["labels"]
    code = lambda c: (c["CodeValue"], c["CodingSchemeDesignator"], c["CodeMeaning"])  # noqa: E731
    return {label["name"]: (code(items[label["value"]]["SegmentedPropertyCategoryCodeSequence"]),
                            code(items[label["value"]]["SegmentedPropertyTypeCodeSequence"]),
                            [code(items[label["value"]]["SegmentedPropertyTypeModifierCodeSequence"])]
                            if "SegmentedPropertyTypeModifierCodeSequence" in items[label["value"]] else [])
            for label in labels}


def copy_with_identifiers(series, out):
    """SERIES copied with the identifiers its anonymisation left empty filled in: TotalSegmentator's example files
    have no SOPClassUID, SOPInstanceUID (kept in their file meta), Study/SeriesInstanceUID or FrameOfReferenceUID,
    and a SEG must reference its images and their frame by them. The voxels and geometry stay as they are."""
    import pydicom
    from pydicom.uid import generate_uid
    shared = {"StudyInstanceUID": generate_uid(entropy_srcs=[series, "study"]),
              "SeriesInstanceUID": generate_uid(entropy_srcs=[series, "series"]),
              "FrameOfReferenceUID": generate_uid(entropy_srcs=[series, "frame"])}
    os.makedirs(out)
    for name in sorted(os.listdir(series)):
        dataset = pydicom.dcmread(os.path.join(series, name))
        if not dataset.get("SOPClassUID"):
            dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
        if not dataset.get("SOPInstanceUID"):
            dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
        for keyword, uid in shared.items():
            if not dataset.get(keyword):
                setattr(dataset, keyword, uid)
        dataset.save_as(os.path.join(out, name))


def check_dicom_seg(medpipe, data, package, reference_file, attributes, work, name):
    """The DICOM series through `medpipe run` with SEG output: its mask against the reference (world space), its
    segments' codes against the metainfo file, and dciodvfy."""
    series = os.path.join(os.path.dirname(data), CT_DICOM)
    if not os.path.isdir(series):
        print(f"skipped {name} as DICOM: {series} absent")
        return True
    inputs = os.path.join(work, f"in_dicom_{name}")
    copy_with_identifiers(series, os.path.join(inputs, "example_ct_dicom"))
    out = os.path.join(work, f"out_dicom_{name}")
    masks = list(run_model(medpipe, package, inputs, out, "nifti,seg,rtstruct").values())
    segs = glob.glob(os.path.join(out, "studies", "**", "*_seg.dcm"), recursive=True)
    rtstructs = [f for f in glob.glob(os.path.join(out, "studies", "**", "*.dcm"), recursive=True) if f not in segs]
    if len(masks) != 1 or len(segs) != 1 or len(rtstructs) != 1:
        print(f"FAIL {name} DICOM: {len(masks)} mask(s), SEG files {segs}, RTSTRUCT files {rtstructs}")
        return False
    figures = world_compare(masks[0][0], reference_file)
    codes, expected = segment_codes(segs[0]), expected_codes(attributes, package)
    present = {label: expected[label] for label in codes}
    rois = roi_codes(rtstructs[0])
    rois_expected = {label: expected[label][:2] for label in rois}
    # dcmqi's "Anatomical Structure" (SCT 123037004) makes an ORGAN, as medpipe's own 91723000 does.
    import pydicom
    interpreted = {o.ROIObservationLabel: o.RTROIInterpretedType
                   for o in pydicom.dcmread(rtstructs[0]).RTROIObservationsSequence}
    organs = all(interpreted[label] == ("ORGAN" if rois[label][0][0] == "123037004" else "") for label in rois)
    errors = []
    for dicom_file in (segs[0], rtstructs[0]):
        validator = run(["dciodvfy", dicom_file])
        errors += [line for line in (validator.stdout + validator.stderr).splitlines() if line.startswith("Error")]
    passed = passes(figures) and codes == present and len(codes) > 0 and rois == rois_expected and len(rois) > 0 \
        and organs and not errors
    print(f"{'ok  ' if passed else 'FAIL'} {name} example_ct_dicom (DICOM) vs the reference: {summary(figures)}; "
          f"SEG segments {sorted(codes)} with the metainfo's codes: {codes == present}; RTSTRUCT ROIs {sorted(rois)} "
          f"with them: {rois == rois_expected}, anatomical ones ORGAN: {organs}; dciodvfy errors {errors}")
    if codes != present:
        print(f"  SEG {codes}\n  expected {present}")
    return passed


def check_attributes_refused(medpipe, results, configuration, attributes, work):
    """A metainfo file without label 6: exit 2 naming it, no package, no temporary folder."""
    with open(attributes) as f:
        metainfo = json.load(f)
    metainfo["segmentAttributes"][0] = [item for item in metainfo["segmentAttributes"][0] if item["labelID"] != 6]
    partial = os.path.join(work, "partial_attributes.json")
    with open(partial, "w") as f:
        json.dump(metainfo, f)
    return import_refused(medpipe, results, os.path.join(work, "refused_attributes"),
                          ["--configuration", configuration, "--segment-attributes", partial], "6 (aorta)",
                          "segment attributes without label 6")


def import_refused(medpipe, results, parent, options, expected, what):
    """`medpipe model import nnunet RESULTS --out PARENT/package OPTIONS` refused: exit 2 with EXPECTED in the
    message and nothing left in PARENT (no package, no temporary folder). Prints the outcome for WHAT."""
    os.makedirs(parent)
    done = run([medpipe, "model", "import", "nnunet", results, "--out", os.path.join(parent, "package"), *options])
    left = os.listdir(parent)
    passed = done.returncode == 2 and expected in done.stderr and not left
    print(f"{'ok  ' if passed else 'FAIL'} {what} refused: exit {done.returncode}, left {left}, "
          f"message: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '(none)'}")
    return passed


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
        for dataset, trainer, configuration, cases, steps, attributes in SETS:
            ok &= check_configuration(args.medpipe, data, dataset, trainer, configuration, cases, steps, attributes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
