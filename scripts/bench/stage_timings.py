#!/usr/bin/env python3
"""Per-stage timings of `medpipe run` outputs, as JSON lines, and their summary.

    stage_timings.py line OUT --input NAME --run N [--architecture DIR/architecture.json] [--wall-s S]
        one JSON line for the single study in OUT: milliseconds per stage, from status.json and result.json
    stage_timings.py summary LINES.jsonl [--baseline FILE] [--record FILE] [--tolerance 0.15]
        per input, the median and p95 of every stage over the runs (run 0, the warm-up, left out); with
        --baseline, a FLAG line for each median more than TOLERANCE slower than the stored one; with
        --record, the medians written as the new baseline

Stages: index (header pass over the input: read and parse), decode (pixel pass: read, parse, decode,
in parallel, in a disposable decoding process), assemble (slices into the volume), handover (the rest
of that process's round trip: fork, header re-encoding, voxels through shared memory), resample (to the model's grid and normalised), h2d,
infer, stitch (accumulate, label map, back to the CPU), post (label map onto the source grid, clean,
measure), write (NIfTI, SEG, overlay, each read back), overlay (the series picture), study (the study
from load to commit, excluding index), end_to_end (index + study).
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

STAGES = ["index", "decode", "assemble", "handover", "resample", "h2d", "infer", "stitch", "post", "write", "overlay",
          "study", "end_to_end"]
# Medians below this many milliseconds are too small for a 15 % change to mean anything.
MIN_FLAGGED_MS = 20.0


def study_line(out: str) -> dict:
    results = glob.glob(os.path.join(out, "studies", "*", "result.json"))
    if len(results) != 1:
        sys.exit(f"{out}: expected one study, found {len(results)}")
    with open(results[0]) as f:
        result = json.load(f)
    with open(os.path.join(out, "status.json")) as f:
        status = json.load(f)
    if result["status"] != "ok":
        sys.exit(f"{results[0]}: status {result['status']}: {json.dumps(result)[:2000]}")
    stages = {name: 0.0 for name in STAGES}
    stages["index"] = status["index_s"] * 1000
    patches = 0
    for series in result["series"]:
        for name, ms in series.get("timings_ms", {}).items():
            stages[name] += ms
        for analysis in series.get("analyses", []):
            for name, ms in analysis.get("timings_ms", {}).items():
                stages[name] += ms
            patches += analysis.get("patches", 0)
    stages["study"] = result["timings_ms"]["total"]
    stages["end_to_end"] = stages["index"] + stages["study"]
    return {"stages_ms": stages, "patches": patches}


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def line(args) -> None:
    record = {"input": args.input, "run": args.run, **study_line(args.out)}
    if args.wall_s is not None:
        record["process_wall_s"] = args.wall_s  # includes process start and model load
    if args.architecture:
        with open(args.architecture) as f:
            flops = json.load(f)["flops_per_patch"]
        infer_s = record["stages_ms"]["infer"] / 1000
        record["tflop_per_s"] = record["patches"] * flops / infer_s / 1e12 if infer_s > 0 else None
    stages = record["stages_ms"]
    # The device's share of the study: how much of it the GPU (or the CPU's inference) was at work.
    record["device_busy_fraction"] = (stages["h2d"] + stages["infer"] + stages["stitch"]) / stages["study"]
    print(json.dumps(record), flush=True)


def summary(args) -> None:
    by_input = {}
    with open(args.lines) as f:
        for text in f:
            record = json.loads(text)
            if record["run"] > 0:
                by_input.setdefault(record["input"], []).append(record)
    medians = {}
    for name, records in by_input.items():
        stats = {"input": name, "runs": len(records)}
        for stage in STAGES:
            values = [r["stages_ms"][stage] for r in records]
            stats[stage] = {"median": statistics.median(values), "p95": percentile(values, 0.95)}
        for extra in ("tflop_per_s", "device_busy_fraction"):
            values = [r[extra] for r in records if r.get(extra) is not None]
            if values:
                stats[extra] = statistics.median(values)
        medians[name] = {stage: stats[stage]["median"] for stage in STAGES}
        print(json.dumps({"summary": stats}))
    flags = 0
    if args.baseline:
        with open(args.baseline) as f:
            baseline = json.load(f)["medians_ms"]
        for name, stages in medians.items():
            for stage, ms in stages.items():
                before = baseline.get(name, {}).get(stage)
                if before is not None and before >= MIN_FLAGGED_MS and ms > before * (1 + args.tolerance):
                    flags += 1
                    print(f"FLAG {name} {stage}: median {ms:.1f} ms, baseline {before:.1f} ms "
                          f"(+{100 * (ms / before - 1):.0f} %, over {100 * args.tolerance:.0f} %)")
        print(f"{flags} stage(s) slower than the baseline by more than {100 * args.tolerance:.0f} %")
    if args.record:
        with open(args.record, "w") as f:
            json.dump({"machine": args.machine, "medians_ms": medians}, f, indent=2)
            f.write("\n")
    if flags and args.fail_on_flag:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("line")
    one.add_argument("out")
    one.add_argument("--input", required=True)
    one.add_argument("--run", type=int, required=True)
    one.add_argument("--architecture")
    one.add_argument("--wall-s", type=float)
    many = commands.add_parser("summary")
    many.add_argument("lines")
    many.add_argument("--baseline")
    many.add_argument("--record")
    many.add_argument("--machine", default="")
    many.add_argument("--tolerance", type=float, default=0.15)
    many.add_argument("--fail-on-flag", action="store_true")
    args = parser.parse_args()
    if args.command == "line":
        line(args)
    else:
        summary(args)


if __name__ == "__main__":
    main()
