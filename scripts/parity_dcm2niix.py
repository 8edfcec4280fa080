#!/usr/bin/env python3
"""Ingest parity with dcm2niix (issue 25): runs Debian's dcm2niix and `medpipe convert` on every folder of
DICOM files in the collections given (default: ../shared/data/dicom/**, the hippocampus DICOM study,
python3-nibabel's and heudiconv's Debian test data) and says, for every volume dcm2niix writes, whether
medpipe wrote one with the same voxel centres (within 1e-3 mm) and the same values, or why not: left
out by design (localizer, secondary capture, no pixel data), refused (the reason medpipe gives), or
different (how far). Then the totals, and the series medpipe writes that dcm2niix does not.

Each folder's files are linked (nibabel's .dcm.gz decompressed) into a folder of their own, so both
tools read exactly the same files, one folder at a time (dcm2niix and medpipe each under a time limit).

usage: scripts/parity_dcm2niix.py [--medpipe BUILD/pipeline/medpipe] [--json OUT.json] [ROOT...]"""
import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import nibabel
import numpy
import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
DEBIAN_NIBABEL = "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data"
DEBIAN_HEUDICONV = "/usr/lib/python3/dist-packages/heudiconv/tests/data"
BY_DESIGN = ("localizer", "secondary_capture", "non_image")
TOLERANCE_MM = 1e-3


def default_roots():
    roots = [os.path.join(SHARED, "dicom"), os.path.join(SHARED, "hippocampus", "data", "TestVolumes"), DEBIAN_NIBABEL]
    # heudiconv is not installed here by default: `apt-get download heudiconv` and `dpkg-deb -x` give its data
    roots += [DEBIAN_HEUDICONV] + glob.glob("/tmp/heudiconv/root" + DEBIAN_HEUDICONV)
    return [root for root in roots if os.path.isdir(root)]


def looks_like_dicom(path):
    if path.endswith(".dcm.gz"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or path.lower().endswith((".dcm", ".ima", ".dicom"))


def folders_of(roots):
    """Every folder that holds DICOM files itself, with those files."""
    for root in roots:
        for folder, _, names in sorted(os.walk(root)):
            files = sorted(os.path.join(folder, n) for n in names if looks_like_dicom(os.path.join(folder, n)))
            if files:
                yield folder, files


def stage(files, into):
    os.makedirs(into)
    for i, path in enumerate(files):
        target = os.path.join(into, f"{i:05d}_" + os.path.basename(path))
        if path.endswith(".gz"):
            with gzip.open(path) as src, open(target[: -len(".gz")], "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            os.symlink(path, target)


def run(command, timeout):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        return "timeout", ""


def sidecar(nifti):
    stem = nifti[: -len(".nii.gz")] if nifti.endswith(".gz") else nifti[: -len(".nii")]
    try:
        with open(stem + ".json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def load(nifti):
    image = nibabel.load(nifti)
    raw = numpy.asarray(image.dataobj)
    if raw.dtype.names:  # RGB24: the colours as a 4th axis
        return image.affine, numpy.stack([raw[name].astype(numpy.float64) for name in raw.dtype.names], axis=-1)
    data = numpy.asarray(image.get_fdata(dtype=numpy.float64))
    if data.ndim == 5 and data.shape[3] == 1:  # RGB written as vectors
        data = data[:, :, :, 0, :]
    if data.ndim == 2:
        data = data[:, :, None]
    return image.affine, data


def compare(theirs, ours):
    """None when OURS holds THEIRS' voxels at the same world positions; else why not."""
    (affine_t, data_t), (affine_o, data_o) = theirs, ours
    volumes_t = data_t.shape[3] if data_t.ndim > 3 else 1
    volumes_o = data_o.shape[3] if data_o.ndim > 3 else 1
    if volumes_t != volumes_o or data_t.ndim > 4 or data_o.ndim > 4:
        return f"shape {data_t.shape} against medpipe's {data_o.shape}"
    if numpy.prod(data_t.shape[:3]) != numpy.prod(data_o.shape[:3]):
        return f"grid {data_t.shape[:3]} against medpipe's {data_o.shape[:3]}"
    to_ours = numpy.linalg.inv(affine_o) @ affine_t
    ijk = numpy.indices(data_t.shape[:3]).reshape(3, -1)
    where = to_ours[:3, :3] @ ijk + to_ours[:3, 3:4]
    nearest = numpy.rint(where)
    off_mm = float(numpy.abs(affine_o[:3, :3] @ (where - nearest)).max())
    inside = all((nearest[a] >= 0).all() and (nearest[a] < data_o.shape[a]).all() for a in range(3))
    if off_mm > TOLERANCE_MM or not inside:
        return f"voxel centres differ ({off_mm:.3g} mm from medpipe's nearest)" if inside else "voxel centres differ (outside medpipe's grid)"
    index = tuple(nearest.astype(int))
    t = data_t.reshape(len(ijk[0]), volumes_t) if data_t.ndim > 3 else data_t.reshape(-1, 1)
    o = data_o[index].reshape(len(ijk[0]), volumes_o)
    difference = float(numpy.abs(t - o).max()) if t.size else 0.0
    scale = max(1.0, float(numpy.abs(t).max()) if t.size else 1.0)
    if difference > 1e-4 * scale:
        return f"values differ (max {difference:.4g}, range {scale:.4g})"
    return None


def slice_positions(files, uid):
    """The centres of the four corner pixels of every single-frame file of series UID (LPS mm), from its
    own ImagePositionPatient, ImageOrientationPatient and PixelSpacing; empty for other series."""
    positions = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            continue
        if str(ds.get("SeriesInstanceUID", "")) != uid or int(ds.get("NumberOfFrames", 1) or 1) != 1:
            continue
        if not all(k in ds for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")):
            continue
        origin = numpy.array([float(v) for v in ds.ImagePositionPatient])
        cosines = numpy.array([float(v) for v in ds.ImageOrientationPatient])
        row_step = float(ds.PixelSpacing[1]) * cosines[:3]  # along a row: the next column
        column_step = float(ds.PixelSpacing[0]) * cosines[3:]
        for i in (0, int(ds.Columns) - 1):
            for j in (0, int(ds.Rows) - 1):
                positions.append(origin + i * row_step + j * column_step)
    return numpy.array(positions)


def distance_from_positions(affine, positions):
    """How far (mm) the DICOM slices' first voxel centres lie from the nearest voxel centre of AFFINE's grid."""
    ras = numpy.column_stack([-positions[:, 0], -positions[:, 1], positions[:, 2]])
    where = numpy.linalg.inv(affine[:3, :3]) @ (ras.T - affine[:3, 3:4])
    return float(numpy.abs(affine[:3, :3] @ (where - numpy.rint(where))).max())


def judge(theirs, theirs_path, candidates, why, uid, index, inputs, name):
    """A dcm2niix volume that no medpipe volume equals: whose grid is true to the DICOM, or why they differ by design."""
    resampled = [p for part in index.get(uid, []) for p in part.get("problems", [])
                 if p.split(":")[0] in ("gantry_tilt", "uneven_slice_spacing")]
    if resampled:
        return {"series": name, "outcome": "by design", "why": resampled[0] + " (medpipe writes one exact orthogonal, "
                "equally spaced grid; dcm2niix the stack as stored and its own _Tilt/_Eq copy): " + why}
    positions = slice_positions([os.path.join(inputs, f) for f in os.listdir(inputs)], uid)
    if "centres differ" in why and len(positions) > 4:
        theirs_mm = distance_from_positions(theirs[0], positions)
        ours_mm = min(distance_from_positions(load(p)[0], positions) for p in candidates)
        why += f"; from the DICOM's own corner pixels: dcm2niix {theirs_mm:.2g} mm, medpipe {ours_mm:.2g} mm"
        if ours_mm <= TOLERANCE_MM < theirs_mm:
            return {"series": name, "outcome": "dcm2niix off", "why": why}
    return {"series": name, "outcome": "different", "why": why}


def medpipe_series(medpipe, folder, timeout):
    """medpipe's index of FOLDER: series instance UID -> [(problems, refused)]."""
    code, text = run([medpipe, "scan", folder], timeout)
    series = {}
    if code != 0:
        return series
    try:
        index = json.loads(text[text.index("{"):])
    except ValueError:
        return series
    for study in index.get("studies", []):
        for one in study.get("series", []):
            series.setdefault(one.get("series_instance_uid", ""), []).append(one)
    return series


def why_not_written(uid, index):
    parts = index.get(uid, [])
    if not parts:
        return "refused", "not in medpipe's index (every file refused by the header checks)"
    for part in parts:
        for problem in part.get("problems", []):
            code = problem.split(":", 1)[0]
            if code in BY_DESIGN:
                return "by design", problem
    for part in parts:
        if part.get("refused") or part.get("refusal"):
            return "refused", part.get("refusal") or "; ".join(part.get("problems", []))
    return "refused", "indexed and not refused, but no volume matched (" + "; ".join(parts[0].get("problems", [])) + ")"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*")
    parser.add_argument("--medpipe", default=os.path.join(HERE, "..", "build", "pipeline", "medpipe"))
    parser.add_argument("--dcm2niix", default="dcm2niix")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per tool and folder")
    parser.add_argument("--json", help="write every row as JSON here")
    args = parser.parse_args()
    roots = args.roots or default_roots()
    print("collections: " + ", ".join(roots))
    rows, extra, crashes = [], [], []
    with tempfile.TemporaryDirectory() as work:
        for n, (folder, files) in enumerate(folders_of(roots)):
            here = os.path.join(work, str(n))
            inputs, out_t, out_o = here + "/in", here + "/dcm2niix", here + "/medpipe"
            stage(files, inputs)
            os.makedirs(out_t)
            code_t, log_t = run([args.dcm2niix, "-z", "n", "-ba", "n", "-o", out_t, inputs], args.timeout)
            if code_t not in (0, 2):  # 2: no DICOM found
                crashes.append(f"{folder}: dcm2niix {code_t}")
            code_o, log_o = run([args.medpipe, "convert", inputs, out_o], args.timeout)
            if code_o == "timeout" or (isinstance(code_o, int) and code_o < 0):
                crashes.append(f"{folder}: medpipe convert {code_o}")
            index = medpipe_series(args.medpipe, inputs, args.timeout)
            ours = {path: sidecar(path) for path in glob.glob(out_o + "/**/*.nii.gz", recursive=True)}
            matched = set()
            for theirs_path in sorted(glob.glob(out_t + "/*.nii")):
                meta = sidecar(theirs_path)
                # dcm2niix's resampled copies (_Tilt_1, _Eq_1) carry no sidecar of their own
                base = theirs_path.split("_Tilt")[0].split("_Eq")[0] + ".nii"
                uid = meta.get("SeriesInstanceUID") or sidecar(base).get("SeriesInstanceUID", "")
                name = os.path.relpath(folder, os.path.dirname(roots[0])) + " " + os.path.basename(theirs_path)
                try:
                    theirs = load(theirs_path)
                except Exception as error:  # a file nibabel cannot read is dcm2niix's problem to report
                    rows.append({"series": name, "outcome": "unreadable", "why": str(error)})
                    continue
                candidates = [p for p, m in ours.items() if m.get("series_instance_uid") == uid] if uid else list(ours)
                # one UID may hold several series numbers (dcm_qa_ts): the same number first, unmatched first
                number = meta.get("SeriesNumber")
                candidates.sort(key=lambda p: (p in matched, ours[p].get("SeriesNumber") != number))
                reasons = []
                for path in candidates:
                    why = compare(theirs, load(path))
                    if why is None:
                        matched.add(path)
                        reasons = None
                        break
                    reasons.append(why)
                if reasons is None:
                    rows.append({"series": name, "outcome": "same"})
                elif reasons:
                    refused = [part.get("refusal") or "; ".join(part.get("problems", [])) for part in index.get(uid, [])
                               if part.get("refused")]
                    if refused and all(r.startswith(("grid", "shape")) for r in reasons):
                        rows.append({"series": name, "outcome": "refused", "why": refused[0]})
                        continue
                    rows.append(judge(theirs, theirs_path, candidates, "; ".join(sorted(set(reasons))), uid, index, inputs, name))
                    if rows[-1]["outcome"] != "different":  # accounted for: not an extra
                        matched.update(candidates)
                else:
                    outcome, why = why_not_written(uid, index)
                    rows.append({"series": name, "outcome": outcome, "why": why})
            for path in sorted(set(ours) - matched):
                extra.append(os.path.relpath(folder, os.path.dirname(roots[0])) + " " + os.path.basename(path))
    for row in rows:
        print(f"{row['outcome']:<12} {row['series']}" + (f": {row['why']}" if row.get("why") else ""))
    for line in extra:
        print("extra        " + line)
    totals = {}
    # The hostile corpus is one baseline image mutated 351 ways: counted apart, it says nothing of parity.
    for group, hostile in (("collections", False), ("hostile corpus", True)):
        chosen = [row for row in rows if ("/hostile/" in row["series"]) == hostile]
        counts = {}
        for row in chosen:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        totals[group] = counts
        extras = sum(("/hostile/" in line) == hostile for line in extra)
        counted = len(chosen) - counts.get("by design", 0)
        print(f"\n{group}: {len(chosen)} volumes written by dcm2niix: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"{group}: parity {counts.get('same', 0)} of {counted} not left out by design "
              f"({counts.get('same', 0) + counts.get('dcm2niix off', 0)} counting those where medpipe is true to the DICOM "
              f"and dcm2niix is not); medpipe volumes dcm2niix did not write: {extras}")
    print(f"crashes or timeouts: {len(crashes)}")
    for line in crashes:
        print("  " + line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "extra": extra, "crashes": crashes, "totals": totals}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
