#!/usr/bin/python3
"""One decision everywhere: the shipped pneumonia model on the two real PneumoniaMNIST X-rays in
sample_data/ (one positive, one negative), through `medpipe run`. For each, result.json's decision, the
results.csv row, the study's review page and the DICOM SR, read by pydicom and by dsrdump, must state
the same class, probability, threshold and verdict, and the SR's finding must be coded Pneumonia with
Present or Absent as the decision says.

    /usr/bin/python3 tests/pipeline/decision_agreement_test.py MEDPIPE SOURCE_DIR
"""
import csv
import glob
import html
import json
import os
import subprocess
import sys
import tempfile

import pydicom

EXPECTED = {"test_000_pneumonia.dcm": "positive", "test_003_normal.dcm": "negative"}
PRESENCE = {"positive": ("52101004", "Present"), "negative": ("2667000", "Absent")}
failures = []


def check(condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)
        print("FAILED:", message)


def sr_groups(path: str):
    """The SR's TID 1501 groups as {concept meaning: value} dicts, read with pydicom."""
    groups = []

    def walk(items):
        for item in items:
            name = item.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in item else ""
            if item.ValueType == "CONTAINER" and name == "Measurement Group":
                group = {}
                for child in item.ContentSequence:
                    concept = child.ConceptNameCodeSequence[0]
                    if child.ValueType == "NUM":
                        group[concept.CodeMeaning] = float(child.MeasuredValueSequence[0].NumericValue)
                    elif child.ValueType == "CODE":
                        group[(concept.CodeValue, concept.CodeMeaning)] = child.ConceptCodeSequence[0].CodeValue
                    elif child.ValueType == "TEXT":
                        group[concept.CodeMeaning] = child.TextValue
                groups.append(group)
            walk(item.get("ContentSequence", []))

    walk(pydicom.dcmread(path).ContentSequence)
    return groups


def main() -> None:
    medpipe, source = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "out")
        subprocess.run([medpipe, "run", os.path.join(source, "sample_data", "pneumoniamnist"), out, "--model",
                        os.path.join(source, "models", "pneumonia"), "--device", "cpu"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = list(csv.DictReader(open(os.path.join(out, "results.csv"), newline="")))
        for result_path in glob.glob(os.path.join(out, "studies", "*", "result.json")):
            folder = os.path.dirname(result_path)
            result = json.load(open(result_path))
            series = result["series"][0]
            name = os.path.basename(series["paths"][0])
            analysis = next(a for a in series["analyses"] if a["model"] == "pneumonia")
            decision = analysis["decision"]
            expected = EXPECTED[name]
            where = name
            check(decision["class"] == "pneumonia", f"{where}: decision about {decision['class']}")
            check(decision["result"] == expected, f"{where}: result {decision['result']}, expected {expected}")
            check((decision["probability"] >= decision["threshold"]) == (expected == "positive"),
                  f"{where}: probability {decision['probability']} vs threshold {decision['threshold']}")
            check(abs(decision["probability"] - analysis["probabilities"]["pneumonia"]) < 1e-12,
                  f"{where}: decision probability is not P(pneumonia)")

            row = next(r for r in rows if r["study_id"] == result["study_id"] and r["model"] == "pneumonia")
            check(row["label_or_class"] == "pneumonia" and row["decision"] == expected, f"{where}: csv row {row}")
            check(abs(float(row["value"]) - decision["probability"]) < 1e-9, f"{where}: csv probability {row['value']}")
            check(abs(float(row["threshold"]) - decision["threshold"]) < 1e-12, f"{where}: csv threshold {row['threshold']}")

            page = html.unescape(open(os.path.join(out, "report", result["study_id"] + ".html")).read())
            text = f"pneumonia {decision['probability']:.2f} (threshold {decision['threshold']:.3g}): {expected}"
            check(text in page, f"{where}: the page does not say '{text}'")

            sr = os.path.join(folder, "sr.dcm")
            groups = [g for g in sr_groups(sr) if "Probability" in g]
            check(len(groups) == 1, f"{where}: {len(groups)} classification groups in the SR")
            group = groups[0]
            check(group.get("Tracking Identifier") == "pneumonia: pneumonia", f"{where}: SR tracking id {group}")
            check(group.get(("121071", "Finding")) == "233604007", f"{where}: SR finding is not Pneumonia: {group}")
            check(abs(group["Probability"] - decision["probability"]) < 1e-9, f"{where}: SR probability {group}")
            check(abs(group["Threshold Value"] - decision["threshold"]) < 1e-12, f"{where}: SR threshold {group}")
            code, meaning = PRESENCE[expected]
            check(group.get(("233604007", "Pneumonia")) == code, f"{where}: SR says not {meaning}: {group}")
            dump = subprocess.run(["dsrdump", "+Pc", sr], capture_output=True, text=True, check=True).stdout
            check(f'(233604007,SCT,"Pneumonia")=({code},SCT,"{meaning}")' in dump, f"{where}: dsrdump lacks {meaning}")
            check('"normal"' not in dump, f"{where}: dsrdump names the most probable class as a finding")
        check(len(glob.glob(os.path.join(out, "studies", "*", "result.json"))) == 2, "not two studies")
    failed = len({failure.split(":")[0] for failure in failures})
    print(f"{len(EXPECTED) - failed} passed, {failed} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
