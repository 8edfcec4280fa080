#!/usr/bin/env python3
"""`medpipe convert` of 4-D series against dicom2nifti's ground truth (nibabel): the 4-D NIfTI's voxels
and affine, and the diffusion table as FSL's .bval/.bvec. Exit 77 (skip) without the shared data."""
import glob
import os
import subprocess
import sys
import tempfile

import nibabel
import numpy

medpipe, data = sys.argv[1], sys.argv[2]
cases = os.path.join(data, "dicom", "dicom2nifti", "tests", "data", "ge")
if not os.path.isdir(cases):
    print("skipped: no " + cases)
    sys.exit(77)
failures = 0
for case, diffusion in (("dti/001", True), ("fmri/001", False)):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([medpipe, "convert", os.path.join(cases, case), out], check=True, stdout=subprocess.DEVNULL)
        [written] = glob.glob(os.path.join(out, "*", "*.nii.gz"))
        ours, truth = nibabel.load(written), nibabel.load(os.path.join(cases, case + "_ground_truth.nii.gz"))
        voxels_equal = ours.shape == truth.shape and numpy.array_equal(ours.get_fdata(), truth.get_fdata())
        affine_difference = float(numpy.abs(ours.affine - truth.affine).max())
        print(f"{case}: shape {ours.shape}, voxels equal {voxels_equal}, affine max difference {affine_difference:.2g}")
        failures += not voxels_equal or affine_difference > 1e-3
        stem = written[: -len(".nii.gz")]
        if diffusion:
            for ending in (".bval", ".bvec"):
                table = numpy.loadtxt(stem + ending)
                expected = numpy.loadtxt(os.path.join(cases, case + "_ground_truth" + ending))
                same = table.shape == expected.shape and numpy.allclose(table, expected, atol=1e-4)
                print(f"{case}{ending}: {table.tolist()} (expected {expected.tolist()})")
                failures += not same
        else:
            failures += os.path.exists(stem + ".bval")  # no diffusion, no table
sys.exit(1 if failures else 0)
