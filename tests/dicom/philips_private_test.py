#!/usr/bin/env python3
"""Philips private diffusion and per-frame scale slopes through `medpipe convert`, on synthetic files
written here with pydicom (no real Philips data is available to the project):

- a classic DWI (3 volumes x 4 slices, implicit VR) whose b-values and gradients are only in Philips'
  private (2001,1003) and (2005,10B0-10B2): .bval equal to Debian dcm2niix's, .bvec the gradients in the
  voxel frame (FSL sign), the problem private_diffusion_tags;
- an enhanced DWI whose frames carry their own RescaleSlope (PixelValueTransformation), (2005,100E)
  ScaleSlope and b-value/gradient inside the private per-frame sequence (2005,140F), and a
  RealWorldValueMapping: display voxels are stored x each frame's RS, --philips-scaling float voxels
  stored / each frame's SS (checked voxel centre by voxel centre in world space with nibabel), the
  sidecar records the RWV slope."""
import glob
import json
import os
import subprocess
import sys
import tempfile

import nibabel
import numpy
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

medpipe = sys.argv[1]
SIZE, SLICES, SPACING = 8, 4, 2.0
B_VALUES = [0.0, 1000.0, 1000.0]
GRADIENTS = [(0.0, 0.0, 0.0), (0.6, 0.8, 0.0), (0.0, -0.6, 0.8)]
RESCALE = [1.0, 2.0, 4.0]   # enhanced: per-frame RescaleSlope of each volume
SCALE = [0.5, 0.25, 0.125]  # enhanced: per-frame (2005,100E) ScaleSlope of each volume
failures = 0


def check(what, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


def stored(volume, slice_):
    """Stored values: distinct per volume, slice, row and column."""
    rows, columns = numpy.mgrid[0:SIZE, 0:SIZE]
    return (100 * volume + 10 * slice_ + rows * SIZE + columns).astype(numpy.uint16)


def base(sop_class, transfer_syntax):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = sop_class
    ds.Modality, ds.Manufacturer, ds.SeriesNumber = "MR", "Philips Medical Systems", 7
    ds.SeriesDescription = "DWI synthetic"
    ds.Rows = ds.Columns = SIZE
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    return ds


def philips_diffusion(item, volume):
    item.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x03, "FL", B_VALUES[volume])
    block = item.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
    for k in range(3):
        block.add_new(0xB0 + k, "FL", GRADIENTS[volume][k])


def write_classic(folder):
    study, series = generate_uid(), generate_uid()
    for v in range(len(B_VALUES)):
        for z in range(SLICES):
            ds = base("1.2.840.10008.5.1.4.1.1.4", ImplicitVRLittleEndian)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.InstanceNumber = 1 + v * SLICES + z
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [0, 0, z * SPACING]
            ds.PixelSpacing = [SPACING, SPACING]
            ds.SliceThickness = SPACING
            philips_diffusion(ds, v)
            ds.PixelData = stored(v, z).tobytes()
            ds.save_as(os.path.join(folder, f"IM{ds.InstanceNumber:03d}.dcm"), write_like_original=False)


def write_enhanced(path):
    ds = base("1.2.840.10008.5.1.4.1.1.4.1", ExplicitVRLittleEndian)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    shared = Dataset()
    shared.PlaneOrientationSequence = Sequence([Dataset()])
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PixelMeasuresSequence = Sequence([Dataset()])
    shared.PixelMeasuresSequence[0].PixelSpacing = [SPACING, SPACING]
    shared.PixelMeasuresSequence[0].SliceThickness = SPACING
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames, pixels = [], []
    for v in range(len(B_VALUES)):
        for z in range(SLICES):
            frame = Dataset()
            frame.PlanePositionSequence = Sequence([Dataset()])
            frame.PlanePositionSequence[0].ImagePositionPatient = [0, 0, z * SPACING]
            frame.FrameContentSequence = Sequence([Dataset()])
            frame.FrameContentSequence[0].TemporalPositionIndex = v + 1
            frame.PixelValueTransformationSequence = Sequence([Dataset()])
            transform = frame.PixelValueTransformationSequence[0]
            transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = RESCALE[v], 0, "US"
            mapping = Dataset()
            mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = RESCALE[v], 0.0
            mapping.LUTLabel, mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = "US", 0, 65535
            frame.RealWorldValueMappingSequence = Sequence([mapping])
            private = Dataset()
            private.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x0E, "FL", SCALE[v])
            philips_diffusion(private, v)
            # as Philips writes it: the per-frame private sequence in block 0x14 of group 2005
            frame.add_new((0x2005, 0x0014), "LO", "Philips MR Imaging DD 005")
            frame.add_new((0x2005, 0x140F), "SQ", Sequence([private]))
            frames.append(frame)
            pixels.append(stored(v, z))
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = numpy.stack(pixels).tobytes()
    ds.save_as(path, write_like_original=False)


def convert(source, out, *options):
    subprocess.run([medpipe, "convert", source, out, *options], check=True, stdout=subprocess.DEVNULL)
    [written] = glob.glob(os.path.join(out, "**", "*.nii.gz"), recursive=True)
    with open(written[: -len(".nii.gz")] + ".json") as f:
        return nibabel.load(written), json.load(f), written[: -len(".nii.gz")]


def expected_in_world(image, value_of_volume):
    """The expected voxels of IMAGE from its own affine: RAS -> LPS -> the synthetic grid's indices."""
    shape = image.shape[:3]
    ijk = numpy.indices(shape).reshape(3, -1)
    ras = image.affine[:3, :3] @ ijk + image.affine[:3, 3:4]
    column, row, slice_ = -ras[0] / SPACING, -ras[1] / SPACING, ras[2] / SPACING
    indices = [numpy.rint(a).astype(int) for a in (column, row, slice_)]
    off = max(float(numpy.abs(a - numpy.rint(a)).max()) for a in (column, row, slice_))
    volumes = []
    for v in range(len(B_VALUES)):
        grid = numpy.stack([stored(v, z) for z in range(SLICES)])  # [slice, row, column]
        volumes.append(value_of_volume(v, grid[indices[2], indices[1], indices[0]]).reshape(shape))
    return numpy.stack(volumes, axis=-1), off


def fsl_bvec(image):
    """The LPS gradients in the voxel frame of IMAGE, x negated for a positive-determinant affine (FSL)."""
    affine = image.affine[:3, :3]
    direction = numpy.diag([-1, -1, 1]) @ affine / numpy.linalg.norm(affine, axis=0)  # LPS axes of the voxels
    voxel = direction.T @ numpy.array(GRADIENTS).T
    if numpy.linalg.det(affine) > 0:
        voxel[0] = -voxel[0]
    return voxel


with tempfile.TemporaryDirectory() as work:
    classic = os.path.join(work, "classic")
    os.makedirs(classic)
    write_classic(classic)
    image, sidecar, stem = convert(classic, os.path.join(work, "out_classic"))
    check(f"classic: one 4-D volume of 3 {image.shape}", image.shape == (SIZE, SIZE, SLICES, 3))
    bval, bvec = numpy.loadtxt(stem + ".bval"), numpy.loadtxt(stem + ".bvec")
    check(f"classic: .bval {bval.tolist()} from (2001,1003)", numpy.allclose(bval, B_VALUES))
    check(f"classic: .bvec {bvec.round(4).tolist()} from (2005,10B0-10B2)", numpy.allclose(bvec, fsl_bvec(image), atol=1e-4))
    expected, off = expected_in_world(image, lambda v, grid: grid.astype(float))
    check(f"classic: voxels at their world positions (centres off by {off:.2g} voxel)",
          off < 1e-4 and numpy.array_equal(numpy.asarray(image.dataobj), expected))
    scan = subprocess.run([medpipe, "scan", classic], capture_output=True, text=True).stdout
    check("classic: problem private_diffusion_tags names Philips", "private_diffusion_tags: b-values and gradients from Philips" in scan)
    reference = os.path.join(work, "dcm2niix")
    os.makedirs(reference)
    subprocess.run(["dcm2niix", "-z", "n", "-f", "ref", "-o", reference, classic], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    ref_bval = glob.glob(os.path.join(reference, "ref*.bval"))
    if ref_bval:
        theirs = numpy.loadtxt(ref_bval[0])
        check(f"classic: dcm2niix's .bval {theirs.tolist()} is the same", numpy.allclose(theirs, bval))
        their_bvec = numpy.loadtxt(ref_bval[0][: -len(".bval")] + ".bvec")
        check(f"classic: dcm2niix's .bvec {their_bvec.round(4).tolist()} has the same magnitudes (it flips rows)",
              numpy.allclose(numpy.abs(their_bvec), numpy.abs(bvec), atol=1e-4))
    else:
        check("classic: dcm2niix wrote a .bval", False)

    enhanced = os.path.join(work, "enhanced")
    os.makedirs(enhanced)
    write_enhanced(os.path.join(enhanced, "dwi.dcm"))
    image, sidecar, stem = convert(enhanced, os.path.join(work, "out_display"))
    expected, off = expected_in_world(image, lambda v, grid: grid * RESCALE[v])
    check(f"enhanced display: stored x each frame's RescaleSlope {RESCALE}",
          off < 1e-4 and numpy.allclose(numpy.asarray(image.dataobj, dtype=float), expected))
    check(f"enhanced: .bval {numpy.loadtxt(stem + '.bval').tolist()} from the frames' (2005,140F)",
          numpy.allclose(numpy.loadtxt(stem + ".bval"), B_VALUES) and
          numpy.allclose(numpy.loadtxt(stem + ".bvec"), fsl_bvec(image), atol=1e-4))
    check(f"enhanced: sidecar PhilipsRWVSlope {sidecar.get('PhilipsRWVSlope')}, PhilipsScaleSlope {sidecar.get('PhilipsScaleSlope')}",
          sidecar.get("PhilipsRWVSlope") == RESCALE[0] and sidecar.get("PhilipsScaleSlope") == SCALE[0] and
          sidecar.get("UsePhilipsFloatNotDisplayScaling") == 0)
    image, sidecar, stem = convert(enhanced, os.path.join(work, "out_float"), "--philips-scaling", "float")
    expected, off = expected_in_world(image, lambda v, grid: grid / SCALE[v])
    check(f"enhanced float: stored / each frame's ScaleSlope {SCALE}",
          off < 1e-4 and numpy.allclose(numpy.asarray(image.dataobj, dtype=float), expected))
    check("enhanced float: the sidecar says so", sidecar.get("UsePhilipsFloatNotDisplayScaling") == 1)
sys.exit(1 if failures else 0)
