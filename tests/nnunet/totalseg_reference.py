"""TotalSegmentator's steps around nnU-Net, as its nnunet.py (nnUNet_predict_image), resampling.py
(change_spacing, CPU path), alignment.py (as_closest_canonical, undo_canonical) and the multi-part merge
compute them, written out with nibabel and scipy for totalseg_test.cpp to compare with the C++ side.
Jobs come from DIR/jobs.json; arrays go to DIR as float32 .npy in ITK's buffer order ((k, j, i), C order,
i.e. nibabel's array transposed), everything else to DIR/results.json keyed by job name.

usage: /usr/bin/python3 tests/nnunet/totalseg_reference.py DIR
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform
from scipy import ndimage


def change_spacing(img, new_spacing, target_shape=None, order=0, dtype=None, force_affine=None):
    """resampling.change_spacing without GPU, nnU-Net resampling or remove_negative."""
    data = img.get_fdata()
    old_shape = np.array(data.shape)
    img_spacing = np.array(img.header.get_zooms())
    new_spacing = np.array(new_spacing)
    if target_shape is not None:
        zoom = np.array(target_shape) / old_shape
    else:
        zoom = img_spacing / new_spacing
    new_affine = np.copy(img.affine)
    for axis in range(3):
        new_affine[:3, axis] = new_affine[:3, axis] / zoom[axis]
    new_data = ndimage.zoom(data, zoom, order=order)
    if dtype is not None:
        new_data = new_data.astype(dtype)
    if force_affine is not None:
        new_affine = force_affine
    return nib.Nifti1Image(new_data, new_affine)


def undo_canonical(img_can, img_orig):
    from_canonical = ornt_transform(axcodes2ornt("RAS"), io_orientation(img_orig.affine))
    return img_can.as_reoriented(from_canonical)


def buffer_order(array):
    return np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0), np.float32)


def source_image(job, folder):
    """The job's image; "transpose"/"flip"/"rotate_deg" make a reoriented copy (saved for the C++ side)."""
    img = nib.load(job["image"])
    if not any(key in job for key in ("transpose", "flip", "rotate_deg")):
        return img, job["image"]
    data = np.asanyarray(img.dataobj)
    affine = img.affine.copy()
    for axis in job.get("flip", []):
        data = np.flip(data, axis)
        shift = np.eye(4)
        shift[axis, axis] = -1
        shift[axis, 3] = data.shape[axis] - 1
        affine = affine @ shift
    order = job.get("transpose", [0, 1, 2])
    data = data.transpose(order)
    permute = np.eye(4)[:, list(order) + [3]]
    affine = affine @ permute
    angle = np.deg2rad(job.get("rotate_deg", 0.0))
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    affine = rotation @ affine
    path = os.path.join(folder, job["name"] + "_source.nii.gz")
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), path)
    return nib.load(path), path


def resample(job, folder, save):
    """nnUNet_predict_image's path for one image: canonical, change_spacing order 3 to int32, the file nnU-Net
    reads; synthetic labels on that grid back with order 0 and undo_canonical."""
    img_in_orig, path = source_image(job, folder)
    img_in = nib.Nifti1Image(img_in_orig.get_fdata(), img_in_orig.affine)
    img_in = nib.as_closest_canonical(img_in)
    save(job["name"] + "_canonical", buffer_order(img_in.get_fdata()))
    img_in_shape = img_in.shape
    spacing = job["spacing_mm"]
    img_in_rsp = change_spacing(img_in, [spacing, spacing, spacing], order=3, dtype=np.int32)
    save(job["name"] + "_resampled", buffer_order(img_in_rsp.get_fdata()))
    written = os.path.join(folder, job["name"] + "_s01_0000.nii.gz")
    nib.save(img_in_rsp, written)
    nnunet_input = nib.load(written)

    i, j, k = np.meshgrid(*[np.arange(n) for n in img_in_rsp.shape], indexing="ij")
    labels = ((i // 7 + j // 5 + k // 3) % 4 + (img_in_rsp.get_fdata() > 0) * 4).astype(np.uint8)
    save(job["name"] + "_labels", buffer_order(labels))
    img_pred = nib.Nifti1Image(labels, img_in_rsp.affine)
    img_pred = change_spacing(img_pred, [spacing, spacing, spacing], img_in_shape, order=0, dtype=np.uint8,
                              force_affine=img_in.affine)
    img_pred = undo_canonical(img_pred, img_in_orig)
    assert img_pred.shape == img_in_orig.shape and np.allclose(img_pred.affine, img_in_orig.affine, atol=1e-4)
    save(job["name"] + "_labels_back", buffer_order(img_pred.get_fdata()))
    return {"source": path,
            "canonical_affine": img_in.affine.tolist(),
            "canonical_zooms": [float(z) for z in img_in.header.get_zooms()],
            "resampled_affine": img_in_rsp.affine.tolist(),
            "nnunet_zooms": [float(z) for z in nnunet_input.header.get_zooms()]}


def merge(job, folder, save):
    """The multi-part merge: each part's labels, in part order, written over the combined map through the
    part's class map (part value -> name) and the task's map (name -> value); later parts win."""
    class_map_inv = {name: int(value) for value, name in job["class_map"].items()}
    parts = [np.load(os.path.join(folder, name)) for name in job["parts"]]
    seg_combined = np.zeros(parts[0].shape, dtype=np.uint8)
    for seg, part_map in zip(parts, job["part_maps"]):
        for jdx, class_name in part_map.items():
            seg_combined[seg == int(jdx)] = class_map_inv[class_name]
    save(job["name"], seg_combined)
    return {}


def main():
    folder = sys.argv[1]
    save = lambda name, array: np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(array, np.float32))  # noqa: E731
    results = {}
    for job in json.load(open(os.path.join(folder, "jobs.json"))):
        results[job["name"]] = globals()[job["op"]](job, folder, save)
    json.dump(results, open(os.path.join(folder, "results.json"), "w"))


if __name__ == "__main__":
    main()
