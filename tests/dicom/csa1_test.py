#!/usr/bin/env python3
"""Siemens CSA1 headers (no "SV10" signature) through `medpipe convert`, against nibabel's csareader and
MosaicWrapper. No CSA1 sample ships with Debian, so nibabel's real mosaic siemens_dwi_1000 gets its CSA2
image header re-encoded as CSA1 (the layout nibabel reads: no signature, an item's first word its length
plus the second element's item count; the first element's items dropped, which nibabel cannot read) and
its (0019,100A) NumberOfImagesInMosaic removed, so the tile count and slice direction can only come from
the CSA1 header. A second copy has the header's SliceNormalVector negated, as sagittal acquisitions store
it, so the tiles must run the other way. Exit 77 (skip) without nibabel's test data."""
import glob
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import warnings

import nibabel
import numpy
import pydicom

warnings.simplefilter("ignore")  # nibabel's "DICOM readers are highly experimental"
from nibabel.nicom import csareader, dicomwrappers  # noqa: E402

medpipe = sys.argv[1]
source = "/usr/lib/python3/dist-packages/nibabel/nicom/tests/data/siemens_dwi_1000.dcm.gz"
if not os.path.exists(source):
    print("skipped: no " + source)
    sys.exit(77)
failures = 0


def check(what, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


def csa2_elements(raw):
    ptr = 8
    count, check_word = struct.unpack_from("<2I", raw, ptr)
    ptr += 8
    elements = []
    for _ in range(count):
        head = struct.unpack_from("<64si4s3i", raw, ptr)
        ptr += 84
        items = []
        for _ in range(head[4]):
            x0, length, x2, x3 = struct.unpack_from("<4i", raw, ptr)
            ptr += 16
            items.append((x2, raw[ptr:ptr + length]))
            ptr += length + (4 - length % 4) % 4
        elements.append((head, items))
    return check_word, elements


def csa1(raw, negate_normal):
    check_word, elements = csa2_elements(raw)
    elements[0] = ((*elements[0][0][:4], 0, elements[0][0][5]), [])
    offset = elements[1][0][4]
    out = [struct.pack("<2I", len(elements), check_word)]
    for head, items in elements:
        out.append(struct.pack("<64si4s3i", *head))
        name = head[0].split(b"\0")[0]
        for x2, value in items:
            if negate_normal and name == b"SliceNormalVector" and value.strip(b"\0"):
                value = repr(-float(value.strip(b"\0"))).encode() + b"\0"
            out.append(struct.pack("<4i", len(value) + offset, len(value), x2, len(value)))
            out.append(value + b"\0" * ((4 - len(value) % 4) % 4))
    return b"".join(out)


def world_compare(image, wrapper):
    """medpipe's voxels against nibabel's MosaicWrapper, voxel centre by voxel centre (LPS)."""
    ours = numpy.asarray(image.dataobj, dtype=float)
    theirs = numpy.asarray(wrapper.get_data(), dtype=float)
    lps = numpy.diag([-1, -1, 1, 1]) @ image.affine
    to_theirs = numpy.linalg.inv(wrapper.affine) @ lps
    ijk = numpy.indices(ours.shape).reshape(3, -1)
    where = to_theirs[:3, :3] @ ijk + to_theirs[:3, 3:4]
    nearest = numpy.rint(where)
    off_mm = float(numpy.abs(wrapper.affine[:3, :3] @ (where - nearest)).max())
    inside = all((nearest[a] >= 0).all() and (nearest[a] < theirs.shape[a]).all() for a in range(3))
    if not inside:
        return False, "outside nibabel's grid"
    picked = theirs[tuple(nearest.astype(int))]
    return off_mm < 1e-3 and numpy.array_equal(ours.reshape(-1), picked), f"centres within {off_mm:.2g} mm"


original = pydicom.dcmread(gzip.open(source))
for negate in (False, True):
    name = "CSA1, normal negated" if negate else "CSA1"
    with tempfile.TemporaryDirectory() as work:
        ds = pydicom.dcmread(gzip.open(source))
        ds[(0x0029, 0x1010)].value = csa1(original[(0x0029, 0x1010)].value, negate)
        del ds[(0x0019, 0x100A)]
        os.makedirs(os.path.join(work, "in"))
        path = os.path.join(work, "in", "mosaic.dcm")
        ds.save_as(path)
        header = csareader.get_csa_header(pydicom.dcmread(path))
        tiles = csareader.get_scalar(header, "NumberOfImagesInMosaic")
        normal = csareader.get_vector(header, "SliceNormalVector", 3)
        check(f"{name}: nibabel reads it as type {header['type']}, {tiles} tiles, normal {normal.tolist()}",
              header["type"] == 1 and tiles == 48 and (normal[2] < 0) == negate)
        subprocess.run([medpipe, "convert", os.path.join(work, "in"), os.path.join(work, "out")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        written = glob.glob(os.path.join(work, "out", "**", "*.nii.gz"), recursive=True)
        if not written:
            check(f"{name}: medpipe wrote the mosaic as a volume", False)
            continue
        image = nibabel.load(written[0])
        same, how = world_compare(image, dicomwrappers.wrapper_from_data(pydicom.dcmread(path)))
        check(f"{name}: medpipe's {image.shape} equals nibabel's MosaicWrapper in world space ({how})",
              image.shape[2] == 48 and same)
sys.exit(1 if failures else 0)
