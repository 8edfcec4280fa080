#!/usr/bin/python3
"""Writes the real cases of sample_data/ from the reference data in ../shared/data (sources, licences and
attribution: sample_data/README.md). The synthetic ct/, mr/ and dx/ folders are `medpipe synth`'s, not this script's.

    /usr/bin/python3 scripts/make_sample_data.py [--data ../shared/data] [--out sample_data]
    /usr/bin/python3 scripts/make_sample_data.py --choose [--medpipe build/pipeline/medpipe]

- OUT/hippocampus/: Medical Segmentation Decathlon Task04 case hippocampus_015, the first case held out
  from the hippocampus model's training (numbers divisible by 5) that has a reference label, as an MR
  series of one file per slice whose SeriesDescription ("HippoCrop") matches the model's selector.
- OUT/pneumoniamnist/: two PneumoniaMNIST test images as DX files, one per class: the first test index
  of each class that medpipe with models/pneumonia classifies correctly at the manifest's threshold.

Both go through scripts/lib/eval_io.py, as in the evaluations, so a case here is the same study (same
UIDs, derived from the case name) as in scripts/eval_hippocampus.py and scripts/eval_pneumonia.py.
Only OUT/hippocampus/ and OUT/pneumoniamnist/ are replaced; the output is the same on every run.

--choose finds the X-ray indices again: it writes the whole test split (624 images) as DX files into a
temporary folder, runs medpipe on it, prints the first correctly classified index of each class with its
probability, and writes those images instead of the recorded ones (NORMAL_INDEX and PNEUMONIA_INDEX below).
"""
import argparse
import glob
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from eval_io import (ROOT, image_to_dx, nifti_to_mr_series, results_by_study, run_medpipe,  # noqa: E402
                     study_uid, work_folder)

HIPPOCAMPUS_CASE = "hippocampus_015"  # first held-out case (number divisible by 5) with a label
# Found with --choose (medpipe, models/pneumonia 1.0.0, threshold 0.0878); see sample_data/README.md.
NORMAL_INDEX = 3  # P(pneumonia) 0.00003; index 1, the first normal, is misclassified (0.942)
PNEUMONIA_INDEX = 0  # P(pneumonia) 0.99986
CLASSES = ("normal", "pneumonia")  # PneumoniaMNIST labels 0 and 1


def xray_case(index: int) -> str:
    """The case name eval_pneumonia.py gives test image INDEX, so both make the same study."""
    return f"pneumoniamnist_test_{index:03d}"


def probability_of(result: dict, model: str):
    """The positive-class probability in MODEL's decision in a study's result.json, or None."""
    for series in result["series"]:
        for analysis in series.get("analyses", []):
            if analysis.get("model") == model and "decision" in analysis:
                decision = analysis["decision"]
                for key in ("probability", "positive_probability", "score"):
                    if key in decision:
                        return float(decision[key])
                raise KeyError(f"no probability in the decision {decision}")
    return None


def choose_xrays(args, images: np.ndarray, labels: np.ndarray):
    """The first test index of each class that medpipe classifies correctly, and their probabilities."""
    with open(os.path.join(args.model, "manifest.json")) as f:
        manifest = json.load(f)
    threshold, model = manifest["output"]["decision"]["threshold"], manifest["name"]
    with work_folder(args.work) as work:
        for index, image in enumerate(images):
            image_to_dx(image, xray_case(index), os.path.join(work, "dicom", xray_case(index) + ".dcm"))
        run_medpipe(args.medpipe, os.path.join(work, "dicom"), os.path.join(work, "out"), args.model,
                    "--device", args.device)
        results = results_by_study(os.path.join(work, "out"))
    chosen = {}
    for index, label in enumerate(labels):
        result = results.get(study_uid(xray_case(index)))
        probability = probability_of(result, model) if result else None
        if probability is None:
            sys.exit(f"no decision from medpipe for test image {index}")
        if label not in chosen and (probability >= threshold) == bool(label):
            chosen[label] = (index, probability)
        if len(chosen) == len(CLASSES):
            break
    if len(chosen) < len(CLASSES):
        sys.exit(f"medpipe classifies no test image of some class correctly: {chosen}")
    for label, (index, probability) in sorted(chosen.items()):
        print(f"{CLASSES[label]}: test index {index}, P(pneumonia) {probability:.4f} (threshold {threshold})")
    return chosen[0][0], chosen[1][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"), help="the shared data folder")
    parser.add_argument("--out", default=os.path.join(ROOT, "sample_data"))
    parser.add_argument("--choose", action="store_true", help="find the X-ray indices with medpipe instead of using the recorded ones")
    parser.add_argument("--medpipe", default=os.path.join(ROOT, "build", "pipeline", "medpipe"))
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "pneumonia"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", help="--choose's folder for the DICOM input and medpipe's output (default: a temporary one)")
    args = parser.parse_args()

    hippocampus = os.path.join(args.data, "hippocampus", "data", "TrainingSet")
    xrays = os.path.join(args.data, "xray", "pneumoniamnist.npz")
    for path in (hippocampus, xrays):
        if not os.path.exists(path):
            sys.exit(f"{path} is absent (see ../shared/data/README.md)")

    data = np.load(xrays)
    images, labels = data["test_images"], data["test_labels"][:, 0].astype(np.int64)
    normal, pneumonia = choose_xrays(args, images, labels) if args.choose else (NORMAL_INDEX, PNEUMONIA_INDEX)
    assert labels[normal] == 0 and labels[pneumonia] == 1, "the recorded indices are not one per class"

    image = os.path.join(hippocampus, "images", HIPPOCAMPUS_CASE + ".nii.gz")
    assert int(HIPPOCAMPUS_CASE.split("_")[1]) % 5 == 0, "not a held-out case"
    assert os.path.exists(image.replace(os.sep + "images" + os.sep, os.sep + "labels" + os.sep)), "no reference label"
    folder = os.path.join(args.out, "hippocampus")
    shutil.rmtree(folder, ignore_errors=True)
    nifti_to_mr_series(image, HIPPOCAMPUS_CASE, folder)
    print(f"{folder}: {HIPPOCAMPUS_CASE}, {len(glob.glob(os.path.join(folder, '*.dcm')))} MR slices")

    folder = os.path.join(args.out, "pneumoniamnist")
    shutil.rmtree(folder, ignore_errors=True)
    for index in (normal, pneumonia):
        path = os.path.join(folder, f"test_{index:03d}_{CLASSES[labels[index]]}.dcm")
        image_to_dx(images[index], xray_case(index), path)
        print(f"{path}: PneumoniaMNIST test image {index}, label {CLASSES[labels[index]]}")


if __name__ == "__main__":
    main()
