"""Evaluation input and output: cases written as DICOM, so that evaluations go through medpipe's real
ingest path (a NIfTI volume as an MR series, one file per slice; a 2-D image as a DX file), and
medpipe's result.json files read back. UIDs derive from the case name, so a case is always the same study."""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def uid(case: str, part: str) -> str:
    return generate_uid(entropy_srcs=["medpipe-eval", case, part])


def study_uid(case: str) -> str:
    return uid(case, "study")


def new_instance(case: str, sop_class: str, modality: str, instance: int) -> Dataset:
    """Patient, study, series and SOP common modules for instance INSTANCE of CASE's only series."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = uid(case, f"instance-{instance}")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID = case, case
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid(case), uid(case, "series")
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20200101", "000000", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, instance
    ds.Manufacturer = "medpipe evaluation"
    return ds


def set_pixels(ds: Dataset, pixels: np.ndarray) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()


def nifti_to_mr_series(nifti_path: str, case: str, folder: str) -> None:
    """Writes the volume as one MR file per slice (k) with the NIfTI's geometry in LPS. Values are
    stored as uint16 with a rescale slope, since the Decathlon images are floats."""
    image = nib.load(nifti_path)
    voxels = np.asarray(image.get_fdata(dtype=np.float64))
    if voxels.ndim != 3 or voxels.min() < 0:
        raise ValueError(f"{nifti_path}: expected a non-negative 3-D volume")
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ image.affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    slope = max(float(voxels.max()), 1.0) / 65535
    stored = np.round(voxels / slope).astype(np.uint16)
    os.makedirs(folder, exist_ok=True)
    for k in range(voxels.shape[2]):
        ds = new_instance(case, MR_IMAGE_STORAGE, "MR", k + 1)
        ds.SeriesDescription = "HippoCrop"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = uid(case, "frame"), ""
        ds.ImagePositionPatient = [float(v) for v in (lps @ [0, 0, k, 1])[:3]]
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]])]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]  # between rows (j), between columns (i)
        ds.SliceThickness = float(spacing[2])
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "GR", "NONE", "", "3D"
        ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength = None, None, None
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, 0.0, "US"
        set_pixels(ds, stored[:, :, k].T)  # rows follow j, columns follow i
        ds.save_as(os.path.join(folder, f"{k + 1:04d}.dcm"), write_like_original=False)


def image_to_dx(pixels: np.ndarray, case: str, path: str) -> None:
    """Writes a 2-D uint8 image as a DX (for presentation) file; its pixel spacing is unknown, so none is given."""
    ds = new_instance(case, DX_IMAGE_STORAGE, "DX", 1)
    ds.SeriesDescription = "Chest X-ray"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "CHEST"
    ds.PatientOrientation = ""
    ds.PresentationLUTShape = "IDENTITY"
    ds.BurnedInAnnotation = "NO"
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1.0, 0.0, "US"
    set_pixels(ds, pixels.astype(np.uint8))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, write_like_original=False)


def results_by_study(outdir: str) -> Dict[str, dict]:
    """medpipe's result.json files under OUTDIR/studies, keyed by StudyInstanceUID."""
    results = {}
    studies = os.path.join(outdir, "studies")
    for name in sorted(os.listdir(studies)):
        with open(os.path.join(studies, name, "result.json")) as f:
            result = json.load(f)
        results[result["study_instance_uid"]] = dict(result, folder=os.path.join(studies, name))
    return results


def run_medpipe(medpipe: str, archive: str, outdir: str, model: str, *options: str) -> None:
    command = [medpipe, "run", archive, outdir, "--model", model, *options]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


# CTest's SKIP_RETURN_CODE for the evaluation tests.
SKIP = 77


def require_data(path: str) -> None:
    """Reference data lives outside the repository (../shared/data); without it there is nothing to evaluate."""
    if not os.path.exists(path):
        print(f"skipped: {path} is absent (see ../shared/data/README.md)")
        sys.exit(SKIP)


@contextlib.contextmanager
def work_folder(path):
    """PATH, kept for inspection, or a temporary folder removed afterwards."""
    if path:
        os.makedirs(path, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="medpipe_eval_") as temporary:
            yield temporary


def evaluation_parser(description: str, data: str, model: str, cases_help: str) -> argparse.ArgumentParser:
    """The options every evaluation takes; DATA is under ../shared/data, MODEL a folder of models/."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--medpipe", default=os.path.join(ROOT, "build", "pipeline", "medpipe"))
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", data))
    parser.add_argument("--model", default=os.path.join(ROOT, "models", model))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cases", type=int, default=0, help=cases_help)
    parser.add_argument("--work", help="folder for the DICOM input and medpipe's output (default: a temporary one, removed afterwards)")
    parser.add_argument("--json", help="write the figures here")
    return parser


def model_name(package: str) -> str:
    """The name a model package's analyses carry in result.json."""
    with open(os.path.join(package, "manifest.json")) as f:
        return json.load(f)["name"]
