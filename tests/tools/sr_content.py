#!/usr/bin/python3
"""Prints the content tree of a DICOM SR as pydicom reads it, one content item a line:

    <depth> <relationship> <value type> <concept code>,<scheme>,"<meaning>" = <value>

CODE values print as code,scheme,"meaning"; NUM values as number and unit code; IMAGE values as the
referenced SOP instance UID (and segment numbers). Tests read this as an independent check of what
DCMTK wrote (dsrdump is DCMTK's own reader)."""
import sys

import pydicom


def code(item) -> str:
    return f'{item.CodeValue},{item.CodingSchemeDesignator},"{item.CodeMeaning}"'


def value(item) -> str:
    kind = item.ValueType
    if kind == "CODE":
        return code(item.ConceptCodeSequence[0])
    if kind == "NUM":
        measured = item.MeasuredValueSequence[0]
        return f"{measured.NumericValue} {code(measured.MeasurementUnitsCodeSequence[0])}"
    if kind in ("TEXT", "UIDREF", "DATE", "PNAME"):
        return str(item.get({"TEXT": "TextValue", "UIDREF": "UID", "DATE": "Date", "PNAME": "PersonName"}[kind]))
    if kind == "IMAGE":
        reference = item.ReferencedSOPSequence[0]
        segments = reference.get("ReferencedSegmentNumber", "")
        return f"{reference.ReferencedSOPInstanceUID} {segments}".strip()
    return ""


def walk(items, depth: int) -> None:
    for item in items:
        concept = code(item.ConceptNameCodeSequence[0]) if "ConceptNameCodeSequence" in item else ""
        print(depth, item.get("RelationshipType", ""), item.ValueType, concept, "=", value(item))
        walk(item.get("ContentSequence", []), depth + 1)


def main() -> None:
    dataset = pydicom.dcmread(sys.argv[1])
    print(0, "ROOT", dataset.ValueType, code(dataset.ConceptNameCodeSequence[0]), "=")
    walk(dataset.get("ContentSequence", []), 1)


if __name__ == "__main__":
    main()
