#!/usr/bin/python3
"""Medians of scripts/bench_inference.sh's JSON lines per implementation, precision and thread count, and
each medpipe precision's time over PyTorch fp32's (under 0.5: twice PyTorch's speed).

    python3 scripts/bench/ratio_summary.py LINES.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def main() -> None:
    times = defaultdict(list)
    for line in open(sys.argv[1]):
        record = json.loads(line)
        if record.get("ms_per_volume") is not None:
            times[(record["impl"], record["dtype"], record.get("threads"))].append(record["ms_per_volume"])
    medians = {key: statistics.median(values) for key, values in times.items()}
    for (impl, dtype, threads), median in sorted(medians.items(), key=lambda item: str(item[0])):
        print(json.dumps({"impl": impl, "dtype": dtype, "threads": threads, "median_ms_per_volume": round(median, 1),
                          "runs": len(times[(impl, dtype, threads)])}))
    for (impl, dtype, threads), median in sorted(medians.items(), key=lambda item: str(item[0])):
        if impl != "medpipe":
            continue
        for (ref_impl, ref_dtype, ref_threads), reference in medians.items():
            if ref_impl == "pytorch" and ref_dtype == "fp32":
                print(f"ratio medpipe {dtype} ({threads} threads) / pytorch fp32 ({ref_threads} threads): "
                      f"{median / reference:.3f}")


if __name__ == "__main__":
    main()
