#!/usr/bin/python3
"""Evaluates the pneumonia classifier through medpipe on the official PneumoniaMNIST test split (624 images).

    /usr/bin/python3 scripts/eval_pneumonia.py [--cases N] [--min-accuracy 0.8] [--min-auc 0.9] [--json FILE]

Each test image is wrapped as a DX DICOM file (one study each), the set goes through `medpipe run`,
and the pneumonia probability and decision in each result.json are scored against the labels: AUC,
accuracy, precision, recall, F1 and the confusion matrix at the manifest's threshold (chosen on the
validation split), with 95 % bootstrap intervals. Exits 1 below a floor or when an image has no result.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from eval_io import (evaluation_parser, image_to_dx, model_name, require_data, results_by_study,  # noqa: E402
                     run_medpipe, study_uid, work_folder)
from metrics import bootstrap_ci, classification_report, roc_auc  # noqa: E402



def decision_of(result: dict, model: str):
    for series in result["series"]:
        for analysis in series.get("analyses", []):
            if analysis["model"] == model and "decision" in analysis:
                return analysis["decision"]
    return None


def main() -> None:
    parser = evaluation_parser(__doc__, "xray/pneumoniamnist.npz", "pneumonia",
                               "evaluate only the first N test images (0: all)")
    parser.add_argument("--min-accuracy", type=float, default=0.0)
    parser.add_argument("--min-auc", type=float, default=0.0)
    args = parser.parse_args()

    require_data(args.data)
    data = np.load(args.data)
    count = args.cases or len(data["test_labels"])
    images, labels = data["test_images"][:count], data["test_labels"][:count, 0].astype(np.int64)
    names = [f"pneumoniamnist_test_{i:03d}" for i in range(count)]
    model = model_name(args.model)
    with work_folder(args.work) as work:
        for name, image in zip(names, images):
            image_to_dx(image, name, os.path.join(work, "dicom", name + ".dcm"))
        run_medpipe(args.medpipe, os.path.join(work, "dicom"), os.path.join(work, "out"), args.model,
                    "--device", args.device)
        results = results_by_study(os.path.join(work, "out"))

    decisions = [decision_of(results[study_uid(n)], model) if study_uid(n) in results else None for n in names]
    missing = [n for n, d in zip(names, decisions) if d is None]
    if missing:
        sys.exit(f"FAILED: no decision from medpipe for {len(missing)} image(s), e.g. {missing[:3]}")
    scores = np.array([d["probability"] for d in decisions])
    threshold = decisions[0]["threshold"]
    report = classification_report(labels, scores, threshold)
    # medpipe's own decision must be the one the threshold gives.
    assert all(d["class"] == "pneumonia" and (d["result"] == "positive") == (s >= threshold)
               for d, s in zip(decisions, scores))
    report["threshold"] = threshold
    report["auc_ci95"] = bootstrap_ci(lambda i: roc_auc(labels[i], scores[i]), count)
    report["accuracy_ci95"] = bootstrap_ci(lambda i: float(np.mean((scores[i] >= threshold) == labels[i])), count)
    report["images"] = count
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")

    m = report["confusion_matrix"]
    print(f"{count} test images through medpipe, threshold {threshold:.4f}")
    print(f"AUC {report['auc']:.4f} [{report['auc_ci95'][0]:.4f}, {report['auc_ci95'][1]:.4f}]  "
          f"accuracy {report['accuracy']:.4f} [{report['accuracy_ci95'][0]:.4f}, {report['accuracy_ci95'][1]:.4f}]  "
          f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  F1 {report['f1']:.4f}")
    print(f"confusion (rows truth normal/pneumonia): [[{m['true_negative']}, {m['false_positive']}], "
          f"[{m['false_negative']}, {m['true_positive']}]]")
    problems = []
    if report["accuracy"] < args.min_accuracy:
        problems.append(f"accuracy {report['accuracy']:.3f} is below the floor {args.min_accuracy}")
    if report["auc"] < args.min_auc:
        problems.append(f"AUC {report['auc']:.3f} is below the floor {args.min_auc}")
    if problems:
        sys.exit("FAILED: " + "; ".join(problems))


if __name__ == "__main__":
    main()
