#!/usr/bin/python3
"""The hippocampus held-out cases through `medpipe run` on the CPU in each --precision: time per case and
Dice per label against medpipe's own fp32 masks (issue 26's accuracy guard for reduced precision).

    /usr/bin/python3 scripts/bench_precision.py [--precisions fp32 bf16 auto] [--cases N] [--device cpu]

fp32 runs first: it is the reference. Each precision's line says which precision medpipe actually ran
(result.json's, after the golden check) and the smallest per-case Dice per label against fp32.
"""
import json
import os
import sys
import time

import nibabel as nib
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_hippocampus import LABELS, held_out_cases, mask_of  # noqa: E402
from eval_io import (evaluation_parser, model_name, nifti_to_mr_series, require_data, results_by_study,  # noqa: E402
                     run_medpipe, study_uid, work_folder)
from metrics import dice  # noqa: E402


def main() -> None:
    parser = evaluation_parser(__doc__, "hippocampus/data/TrainingSet", "hippocampus", "only the first N held-out cases (0: all)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "auto"])
    parser.set_defaults(device="cpu")
    args = parser.parse_args()
    require_data(args.data)
    cases = held_out_cases(args.data)[: args.cases or None]
    model = model_name(args.model)
    precisions = ["fp32"] + [p for p in args.precisions if p != "fp32"]
    with work_folder(args.work) as work:
        for name, image, _ in cases:
            nifti_to_mr_series(image, name, os.path.join(work, "dicom", name))
        reference = {}
        for precision in precisions:
            out = os.path.join(work, "out_" + precision)
            started = time.perf_counter()
            run_medpipe(args.medpipe, os.path.join(work, "dicom"), out, args.model, "--device", args.device,
                        "--precision", precision, "--output-types", "nifti")
            seconds = time.perf_counter() - started
            results = results_by_study(out)
            ran, worst, infer_ms = set(), {label: 1.0 for label in LABELS.values()}, []
            for name, _, _ in cases:
                analysis, mask = mask_of(results.get(study_uid(name)), model)
                ran.add(analysis.get("precision", "?") if analysis else "?")
                labels = np.asarray(mask.dataobj) if mask is not None else None
                if precision == "fp32":
                    reference[name] = labels
                    continue
                for value, label in LABELS.items():
                    worst[label] = min(worst[label], dice(labels == value, reference[name] == value))
            line = {"precision": precision, "ran": sorted(ran), "cases": len(cases),
                    "s_per_case": round(seconds / len(cases), 3), "run_s": round(seconds, 1)}
            if precision != "fp32":
                line["min_dice_vs_fp32"] = {label: round(value, 4) for label, value in worst.items()}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
