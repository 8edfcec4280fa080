#!/usr/bin/python3
"""Writes configs/totalsegmentator/class_maps.json from TotalSegmentator's own files: the class maps of
totalsegmentator/map_to_binary.py (class_map["total"], class_map_5_parts, map_taskid_to_partname_ct; read with
ast, never executed) and the per-class codes of totalsegmentator/resources/totalsegmentator_snomed_mapping.csv
(as dcmqi segmentAttributes items, which `medpipe model import nnunet --segment-attributes` reads).

usage: scripts/totalseg_class_maps.py --map-to-binary FILE --map-commit SHA --snomed-csv FILE --csv-commit SHA
                                      [--out configs/totalsegmentator/class_maps.json]
"""
import argparse
import ast
import csv
import json
import os
import sys

REPOSITORY = "github.com/wasserth/TotalSegmentator"
SEQUENCES = ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence",
             "SegmentedPropertyTypeModifierCodeSequence", "AnatomicRegionSequence", "AnatomicRegionModifierSequence")
# TotalSegmentator's nnunet.py: total_fast (297) and total_fastest (298) predict class_map["total"] directly.
SINGLE_PART_TASKS = {"total_fast": 297, "total_fastest": 298}


def literal_dicts(source):
    """{name: dict} of the module's top-level `name = {...}` assignments; entries that are not literals
    (class_map_5_parts["test"] = class_map["test"]) are left out."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Dict):
            entries = {}
            for key, value in zip(node.value.keys, node.value.values):
                try:
                    entries[ast.literal_eval(key)] = ast.literal_eval(value)
                except ValueError:
                    pass
            found[node.targets[0].id] = entries
    return found


def segment_attributes(row):
    """A CSV row as a dcmqi segmentAttributes item (without labelID): each code sequence present, the colour."""
    item = {}
    for sequence in SEQUENCES:
        value = row[f"{sequence}.CodeValue"].strip()
        if value:
            item[sequence] = {"CodeValue": value, "CodingSchemeDesignator": row[f"{sequence}.CodingSchemeDesignator"].strip(),
                              "CodeMeaning": row[f"{sequence}.CodeMeaning"].strip()}
    item["recommendedDisplayRGBValue"] = [int(c) for c in row["DicomRGBColor"].split(",")]
    return item


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--map-to-binary", required=True)
    parser.add_argument("--map-commit", required=True)
    parser.add_argument("--snomed-csv", required=True)
    parser.add_argument("--csv-commit", required=True)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "configs", "totalsegmentator",
                                                      "class_maps.json"))
    args = parser.parse_args()
    with open(args.map_to_binary) as f:
        maps = literal_dicts(f.read())
    total = {int(k): v for k, v in maps["class_map"]["total"].items()}
    five_parts = maps["class_map_5_parts"]
    part_names = maps["map_taskid_to_partname_ct"]
    with open(args.snomed_csv, newline="") as f:
        rows = {row["Structure"]: row for row in csv.DictReader(f)}

    inverse = {name: value for value, name in total.items()}
    tasks = {"total": {"parts": {}}}
    for dataset, part_name in sorted(part_names.items()):
        if part_name not in five_parts:
            continue  # the "test" part
        labels = {int(k): v for k, v in five_parts[part_name].items()}
        unknown = [name for name in labels.values() if name not in inverse]
        if unknown:
            sys.exit(f"{args.map_to_binary}: {part_name} names {unknown}, which class_map['total'] lacks")
        tasks["total"]["parts"][str(dataset)] = {"class_map_5_parts": part_name,
                                                 "labels": {str(k): labels[k] for k in sorted(labels)}}
    merged = sorted(inverse[n] for part in tasks["total"]["parts"].values() for n in part["labels"].values())
    if merged != sorted(total):
        sys.exit(f"{args.map_to_binary}: the five parts do not cover class_map['total'] once each")
    for task, dataset in SINGLE_PART_TASKS.items():
        tasks[task] = {"parts": {str(dataset): {"labels": {str(k): total[k] for k in sorted(total)}}}}
    uncoded = [name for name in total.values() if name not in rows]
    if uncoded:
        sys.exit(f"{args.snomed_csv}: no codes for {uncoded}")

    out = {
        "about": "TotalSegmentator's class maps and per-class codes, extracted by scripts/totalseg_class_maps.py from "
                 "the files named in 'source' (TotalSegmentator, Copyright Jakob Wasserthal, Apache License 2.0, "
                 "https://www.apache.org/licenses/LICENSE-2.0); medpipe's importer checks part labels against 'tasks' "
                 "and gives each group label the codes under 'segment_attributes'.",
        "source": {"repository": REPOSITORY, "license": "Apache-2.0",
                   "class_maps": {"path": "totalsegmentator/map_to_binary.py", "commit": args.map_commit,
                                  "names": ["class_map['total']", "class_map_5_parts", "map_taskid_to_partname_ct"]},
                   "codes": {"path": "totalsegmentator/resources/totalsegmentator_snomed_mapping.csv",
                             "commit": args.csv_commit}},
        "class_map_total": {str(k): total[k] for k in sorted(total)},
        "tasks": tasks,
        "segment_attributes": {name: segment_attributes(rows[name]) for name in (total[k] for k in sorted(total))},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{args.out}: {len(total)} classes, parts {list(tasks['total']['parts'])}, codes for all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
