"""Inputs ingest has no real file for, made from real files with pydicom, and references for them.

  mosaic-reference IN.dcm OUT.nii            nibabel's MosaicWrapper volume and affine, as NIfTI
  flip-slice-normal IN.dcm OUT.dcm           the CSA SliceNormalVector negated, as sagittal Siemens mosaics store it
  csa-only-tiles IN.dcm OUT.dcm              a Siemens mosaic without (0019,100A): the tile count only in the CSA header
  uih-grid IN.dcm OUT.dcm                    a Siemens mosaic relabelled as a UIH grid: (0065,1050), no CSA, no MOSAIC
  unknown-vr IN_DIR OUT_DIR                  geometry and rescale attributes re-encoded with VR UN
  dose IN_DIR OUT_DIR                        a 32-bit multi-frame RT dose (explicit little and big endian) and its
                                             reference, from the slices of a real series
"""
import os
import sys
import warnings

import nibabel as nib
import numpy as np
import pydicom
with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # nibabel calls its DICOM readers experimental
    from nibabel.nicom import dicomwrappers
from pydicom.dataelem import DataElement
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def save_nifti(data, affine_lps, path):
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), LPS_TO_RAS @ affine_lps), path)


def mosaic_reference(source, out):
    wrapper = dicomwrappers.wrapper_from_data(pydicom.dcmread(source))
    save_nifti(wrapper.get_data(), wrapper.affine, out)


def csa_elements(raw):
    """(name, [(value offset, value length)]) of each element of a CSA2 header."""
    count, at = int(np.frombuffer(raw[8:12], '<u4')[0]), 16
    for _ in range(count):
        name = raw[at:at + 64].split(b'\0')[0].decode()
        values = int(np.frombuffer(raw[at + 76:at + 80], '<u4')[0])
        at += 84
        spans = []
        for _ in range(values):
            length = int(np.frombuffer(raw[at + 4:at + 8], '<u4')[0])
            spans.append((at + 16, length))
            at += 16 + length + (4 - length % 4) % 4
        yield name, spans


def flip_slice_normal(source, out):
    ds = pydicom.dcmread(source)
    raw = bytearray(ds[0x0029, 0x1010].value)
    for name, spans in csa_elements(bytes(raw)):
        if name != 'SliceNormalVector':
            continue
        for start, length in reversed(spans):
            text = raw[start:start + length].split(b'\0')[0]
            if not text:
                continue
            negated = ('%.8f' % -float(text)).encode() + b'\0'
            # The value keeps its slot: the 4-byte padding absorbs the sign character.
            padded = length + (4 - length % 4) % 4
            assert len(negated) <= padded, 'no room for the sign'
            raw[start:start + padded] = negated.ljust(padded, b'\0')
            raw[start - 12:start - 8] = np.uint32(len(negated)).tobytes()
    ds[0x0029, 0x1010].value = bytes(raw)
    ds.save_as(out)


def csa_only_tiles(source, out):
    ds = pydicom.dcmread(source)
    del ds[0x0019, 0x100A]
    ds.save_as(out)


def uih_grid(source, out):
    ds = pydicom.dcmread(source)
    tiles = int(ds[0x0019, 0x100A].value)
    for tag in [t for t in ds.keys() if t.group in (0x0019, 0x0029)]:
        del ds[tag]
    ds.Manufacturer = 'UIH'
    ds.ImageType = [v for v in ds.ImageType if v != 'MOSAIC']
    ds.add_new((0x0065, 0x0010), 'LO', 'Image Private Header')
    ds.add_new((0x0065, 0x1050), 'DS', str(tiles))
    ds.save_as(out)


UNKNOWN_VR_TAGS = ['ImagePositionPatient', 'ImageOrientationPatient', 'PixelSpacing', 'SliceThickness',
                   'RescaleSlope', 'RescaleIntercept']


def unknown_vr(source_dir, out_dir):
    pydicom.config.replace_un_with_known_vr = False  # else pydicom writes them with their real VR
    os.makedirs(out_dir, exist_ok=True)
    for name in sorted(os.listdir(source_dir)):
        ds = pydicom.dcmread(os.path.join(source_dir, name))
        for keyword in UNKNOWN_VR_TAGS:
            if keyword not in ds:
                continue
            element = ds[keyword]
            values = element.value if element.VM > 1 else [element.value]
            text = '\\'.join(str(v) for v in values).encode()
            ds[element.tag] = DataElement(element.tag, 'UN', text + b' ' * (len(text) % 2))
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(os.path.join(out_dir, name), write_like_original=False)


def dose(source_dir, out_dir):
    slices = [pydicom.dcmread(os.path.join(source_dir, n)) for n in sorted(os.listdir(source_dir))]
    iop = np.array(slices[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, float))))
    stored = np.stack([s.pixel_array.astype(np.float64) for s in slices])
    # Values 795,000 to 1,254,000, as in the RT dose the issue reports.
    stored = np.round(795000 + (stored - stored.min()) / np.ptp(stored) * 459000).astype(np.uint32)
    first = np.array(slices[0].ImagePositionPatient, float)
    offsets = [float(np.dot(normal, np.array(s.ImagePositionPatient, float) - first)) for s in slices]
    scaling = 2.5e-6

    ds = slices[0].copy()
    for keyword in ('RescaleSlope', 'RescaleIntercept', 'WindowCenter', 'WindowWidth', 'SliceLocation'):
        if keyword in ds:
            delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.481.2'
    ds.Modality = 'RTDOSE'
    ds.NumberOfFrames = len(slices)
    ds.FrameIncrementPointer = 0x3004000C
    ds.GridFrameOffsetVector = ['%.6f' % o for o in offsets]
    ds.DoseGridScaling = '%g' % scaling
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = 'GY', 'PHYSICAL', 'PLAN'
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    os.makedirs(os.path.join(out_dir, 'little'), exist_ok=True)
    os.makedirs(os.path.join(out_dir, 'big'), exist_ok=True)
    for folder, syntax, dtype in (('little', ExplicitVRLittleEndian, '<u4'), ('big', ExplicitVRBigEndian, '>u4')):
        ds.file_meta.TransferSyntaxUID = syntax
        ds.is_little_endian, ds.is_implicit_VR = folder == 'little', False
        ds.PixelData = stored.astype(dtype).tobytes()
        ds['PixelData'].VR = 'OW'
        ds.save_as(os.path.join(out_dir, folder, 'dose.dcm'), write_like_original=False)

    # Reference: pydicom's own decoding of the big-endian file, placed from the header as DICOM defines it.
    back = pydicom.dcmread(os.path.join(out_dir, 'big', 'dose.dcm'))
    spacing = [float(v) for v in back.PixelSpacing]
    affine = np.eye(4)
    affine[:3, 0] = iop[3:] * spacing[0]  # along rows (nibabel's first axis)
    affine[:3, 1] = iop[:3] * spacing[1]
    affine[:3, 2] = normal * (offsets[1] - offsets[0])
    affine[:3, 3] = first
    values = back.pixel_array.astype(np.float64) * float(back.DoseGridScaling)
    save_nifti(np.transpose(values, (1, 2, 0)), affine, os.path.join(out_dir, 'reference.nii'))


if __name__ == '__main__':
    {'mosaic-reference': mosaic_reference, 'flip-slice-normal': flip_slice_normal, 'uih-grid': uih_grid, 'csa-only-tiles': csa_only_tiles,
     'unknown-vr': unknown_vr, 'dose': dose}[sys.argv[1]](*sys.argv[2:])
