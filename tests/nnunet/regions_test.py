#!/usr/bin/python3
"""A region-based nnU-Net v2 model (dataset.json labels given as regions, one sigmoid output per region, painted
in regions_class_order) through `medpipe model import nnunet` and `medpipe run`, against
scripts/lib/nnunet_inference.py run on the same exported model.pt.

../shared/data/nnunet has no region model, so tests/nnunet/make_region_fixture.py builds two from its
Dataset501_Hippocampus 3d_fullres folder, both with labels {"background": 0, "whole": [1, 2], "posterior": [2]} and
regions_class_order [1, 2]: "trained" (folds 0 and 1, region heads mixed from the trained ones: hippocampus-shaped
overlapping regions) run on every input, and "seeded" (fold 0, nnU-Net-initialised, untrained: speckled regions) with
a postprocessing.json of region steps as determine_postprocessing writes them (every foreground region
[[1, 2], [2]], then the region [2]), run on three inputs.

Checks:
  * the reference's painting is nnU-Net's LabelManager.convert_probabilities_to_segmentation (sigmoid in float32,
    > 0.5, later regions over earlier ones): on hand-made logits with a known answer, and on every case by an
    independent formulation (the last region above 0.5 wins) from its own probabilities;
  * every hippocampus input's mask matches the reference's voxel for voxel (with the postprocessing steps applied;
    configurations_test's floors: agreement >= 99.99 %, each label's Dice >= 0.999; the count is printed), holds
    both labels, and differs from what painting the regions in the other order or an argmax over the
    region channels would give (so a region path that argmaxed or ignored the order fails);
  * the manifest records the postprocessing steps, and for "seeded" they change the reference's labels (so a run
    without them fails); the manifest, the mask's label description and result.json name label 1 "whole" and
    2 "posterior" (the region that paints each; dataset.json's order, not the alphabetical one), with result.json's
    voxel counts those of the mask; a regions_class_order that paints one label from two regions is refused;
  * labels written as one-element lists are plain labels (a softmax model), named.
Exit 0 pass, 1 fail, 77 reference data absent.

usage: tests/nnunet/regions_test.py --medpipe BIN --data ../shared/data/nnunet
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
sys.path.insert(0, HERE)
from configurations_test import HIPPOCAMPUS, import_model, import_refused, link_inputs, passes, reference_labels, \
    run_model, write_labels  # noqa: E402
from nnunet_inference import keep_largest_component, probabilities_and_labels  # noqa: E402
from nnunet_run_test import compare, run, summary  # noqa: E402

# (name, make_region_fixture.py options, cases (None: all), postprocessing steps the manifest must record)
MODELS = [("trained", ["--folds", "0,1"], None, []),
          ("seeded", ["--seed", "23", "--postprocessing", "[[1, 2], [2]];[2]"],
           ["hippocampus_015", "hippocampus_020permuted", "hippocampus_040"], [[1, 2], [2]])]
EXPECTED_NAMES = {1: "whole", 2: "posterior"}


def check_painting_rule():
    """probabilities_and_labels on four voxels, per region (whole, posterior): inside both, whole only, posterior
    outside whole (nnU-Net still paints it), and logits 0 (sigmoid exactly 0.5, not > 0.5: background)."""
    logits = np.array([[3.0, 3.0, -3.0, 0.0], [3.0, -3.0, 3.0, 0.0]], dtype=np.float16)
    ok = True
    for order, expected in (([1, 2], [2, 1, 2, 0]), ([2, 1], [1, 2, 1, 0]), ([1, 1], [1, 1, 1, 0])):
        _, labels = probabilities_and_labels(logits, {"has_regions": True, "regions_class_order": order})
        passed = labels.tolist() == expected
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} reference painting, regions_class_order {order}: {labels.tolist()} "
              f"(nnU-Net's rule: {expected})")
    return ok


def last_region_above_half(probabilities, order):
    """Independent of the reference's loop: per voxel, the label of the last channel whose probability is > 0.5."""
    above = probabilities > 0.5
    last = above.shape[0] - 1 - np.argmax(above[::-1], axis=0)
    return np.where(above.any(axis=0), np.asarray(order)[last], 0)


def alternatives(probabilities, order, steps):
    """Labels (NIfTI voxel order) a wrong region path would give, with the same postprocessing: the regions painted
    in the reverse order, and the argmax over the region channels where any is > 0.5."""
    reverse = last_region_above_half(probabilities[::-1], order[::-1])
    argmax = np.where((probabilities > 0.5).any(axis=0), np.asarray(order)[probabilities.argmax(axis=0)], 0)
    wrong = {}
    for name, labels in (("reverse order", reverse), ("argmax", argmax)):
        labels = labels.transpose(2, 1, 0)
        for step in steps:
            labels = keep_largest_component(labels, step)
        wrong[name] = labels
    return wrong


def check_labels_named(package, mask_file, analysis):
    """manifest, the mask's label description and result.json: label value -> region name; result.json's voxel
    counts are the mask's; the model card says how the regions are painted."""
    with open(os.path.join(package, "manifest.json")) as f:
        manifest = json.load(f)
    named = {label["value"]: label["name"] for label in manifest["output"]["labels"]}
    with open(os.path.join(os.path.dirname(mask_file), analysis["outputs"]["nifti_labels"])) as f:
        described = {label["value"]: label["name"] for label in json.load(f)["labels"]}
    mask = np.asanyarray(nib.load(mask_file).dataobj)
    counted = {label["value"]: (label["name"], label["voxels"]) for label in analysis.get("labels", [])}
    expected_counts = {value: (name, int((mask == value).sum())) for value, name in EXPECTED_NAMES.items()}
    with open(os.path.join(package, "MODEL_CARD.md")) as f:
        carded = "1 where whole [1, 2]; then 2 where posterior [2]" in f.read()
    passed = named == EXPECTED_NAMES and described == EXPECTED_NAMES and counted == expected_counts and \
        manifest["output"]["activation"] == "sigmoid" and carded
    print(f"{'ok  ' if passed else 'FAIL'} label names: manifest {named}, label description {described}, "
          f"result.json {counted} (mask {expected_counts}), activation {manifest['output']['activation']}, "
          f"painting order in the model card: {carded}")
    return passed


def check_case(case, image, mask_file, analysis, package, plan, work):
    reference = reference_labels(package, image)
    order = plan["regions_class_order"]
    probabilities = reference["probabilities"]
    independent = last_region_above_half(probabilities, order).transpose(2, 1, 0)
    painted_ok = np.array_equal(independent, reference["unprocessed"])
    reference_file = os.path.join(work, f"ref_{case.replace(' ', '_')}.nii.gz")
    figures = compare(mask_file, write_labels(reference["labels"], image, reference_file))
    mask = np.asanyarray(nib.load(mask_file).dataobj)
    present = sorted(int(v) for v in np.unique(mask) if v)
    steps = [step["labels"] for step in (plan.get("postprocessing") or {}).get("steps", [])]
    wrong = {name: int((labels != mask).sum()) for name, labels in alternatives(probabilities, order, steps).items()}
    changed = int((reference["labels"] != reference["unprocessed"]).sum())
    passed = passes(figures) and painted_ok and present == [1, 2] and all(n > 0 for n in wrong.values())
    print(f"{'ok  ' if passed else 'FAIL'} {case}: {summary(figures)}; labels present {present}; reference painting "
          f"= last region above 0.5: {painted_ok}; voxels a wrong region path would change: {wrong}; "
          f"postprocessing changed {changed}")
    return passed, figures.get("differing", -1), changed


def check_model(medpipe, data, source, name, options, cases, expected_steps, work):
    dataset = HIPPOCAMPUS[0]
    made = run([sys.executable, os.path.join(HERE, "make_region_fixture.py"), source,
                os.path.join(work, f"results_{name}"), *options])
    if made.returncode != 0:
        print(f"FAIL {name} region fixture:\n{made.stderr[-2000:]}")
        return False
    package = import_model(medpipe, os.path.join(work, f"results_{name}", dataset), "3d_fullres",
                           os.path.join(work, f"package_{name}"), ("--folds", "all"))
    with open(os.path.join(package, "nnunet.json")) as f:
        plan = json.load(f)
    with open(os.path.join(package, "manifest.json")) as f:
        recorded = json.load(f)["nnunet"]["keep_largest_component"]
    ok = recorded == expected_steps
    print(f"{'ok  ' if ok else 'FAIL'} {name}: postprocessing in the manifest {recorded} (expected {expected_steps})")
    cases = cases or sorted(f[:-len("_0000.nii.gz")] for f in os.listdir(os.path.join(data, dataset, "inputs")))
    inputs = link_inputs(data, dataset, cases, os.path.join(work, f"inputs_{name}"))
    masks = run_model(medpipe, package, inputs, os.path.join(work, f"out_{name}"))
    differing, changed = 0, 0
    for case in cases:
        image = os.path.join(inputs, case + "_0000.nii.gz")
        if os.path.basename(image) not in masks:
            print(f"FAIL {name} {case}: no mask written")
            ok = False
            continue
        mask_file, analysis = masks[os.path.basename(image)]
        passed, case_differing, case_changed = check_case(f"{name} {case}", image, mask_file, analysis, package, plan,
                                                          work)
        ok &= passed
        differing += case_differing
        changed += case_changed
        if case == cases[0]:
            ok &= check_labels_named(package, mask_file, analysis)
    ok &= changed > 0 or not expected_steps
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(cases)} cases, {differing} voxels differ from the reference in "
          f"all; postprocessing changed {changed} reference voxels")
    return ok


def check_repeated_label_refused(medpipe, work):
    """The seeded folder with regions_class_order [1, 1] (nnU-Net would paint label 1 from both regions; medpipe's
    manifest has one sigmoid channel per label): exit 2 naming it, nothing left beside --out."""
    dataset = HIPPOCAMPUS[0]
    results = os.path.join(work, "results_repeated")
    shutil.copytree(os.path.join(work, "results_seeded"), results)
    dataset_json = os.path.join(results, dataset, HIPPOCAMPUS[1], "dataset.json")
    with open(dataset_json) as f:
        described = json.load(f)
    with open(dataset_json, "w") as f:
        json.dump(dict(described, regions_class_order=[1, 1]), f, indent=4)
    return import_refused(medpipe, os.path.join(results, dataset), os.path.join(work, "refused_repeated"), [],
                          "regions_class_order [1, 1]", "regions_class_order [1, 1]")


def check_single_label_lists(medpipe, data, work):
    """dataset.json labels written as one-element lists ({"anterior": [1], "posterior": 2}) are plain labels to
    nnU-Net (LabelManager: a region is a list of more than one): imported as the softmax model it is, both named."""
    dataset = HIPPOCAMPUS[0]
    results = os.path.join(work, "results_single_lists", dataset)
    shutil.copytree(os.path.join(data, dataset, "model", dataset), results)
    dataset_json = os.path.join(results, HIPPOCAMPUS[1], "dataset.json")
    with open(dataset_json) as f:
        described = json.load(f)
    with open(dataset_json, "w") as f:
        json.dump(dict(described, labels={"background": 0, "anterior": [1], "posterior": 2}), f, indent=4)
    package = import_model(medpipe, results, "3d_fullres", os.path.join(work, "single_lists"), ["--folds", "0"])
    with open(os.path.join(package, "manifest.json")) as f:
        output = json.load(f)["output"]
    labels = [(label["value"], label["name"]) for label in output["labels"]]
    passed = labels == [(1, "anterior"), (2, "posterior")] and output["activation"] == "softmax"
    print(f"{'ok  ' if passed else 'FAIL'} one-element label lists imported as plain labels: {labels}")
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medpipe", required=True)
    parser.add_argument("--data", required=True, help="../shared/data/nnunet")
    args = parser.parse_args()
    data = os.path.abspath(args.data)
    dataset, trainer = HIPPOCAMPUS
    source = os.path.join(data, dataset, "model", dataset, trainer)
    if not os.path.isdir(source):
        print(f"{source} is absent (see ../shared/data/README.md); skipped")
        return 77
    torch.set_num_threads(2)
    work = tempfile.mkdtemp(prefix="nnunet_regions_test_")
    try:
        ok = check_painting_rule()
        for name, options, cases, steps in MODELS:
            ok &= check_model(args.medpipe, data, source, name, options, cases, steps, work)
        ok &= check_repeated_label_refused(args.medpipe, work)
        ok &= check_single_label_lists(args.medpipe, data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
