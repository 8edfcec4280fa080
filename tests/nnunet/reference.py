"""What scripts/lib/nnunet_inference.py (the numpy/scipy re-implementation of nnU-Net's inference) computes
for the jobs in DIR/jobs.json, for nnunet_test.cpp to compare with the C++ side. Arrays come and go as
float32 .npy files in DIR; everything else goes to DIR/results.json, keyed by job name.

usage: /usr/bin/python3 tests/nnunet/reference.py DIR
"""
import json
import os
import sys

import numpy as np
import torch
from scipy import ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
import nnunet_inference as nn  # noqa: E402


def crop(job, load, save):
    bbox, mask = nn.nonzero_bbox(load(job["input"]))
    save(job["name"] + "_mask", mask)
    return {"bbox": bbox}


def normalize(job, load, save):
    data = load(job["input"])
    bbox, mask = nn.nonzero_bbox(data)
    # A view of the cropped array, as nnU-Net's preprocessor normalises it.
    data = data[(slice(None), *nn.bbox_slicer(bbox))]
    mask = mask[nn.bbox_slicer(bbox)]
    for c in range(data.shape[0]):
        data[c] = nn.normalise(data[c], job["scheme"], job["use_mask"], mask, job.get("props"))
    save(job["name"], data)
    return {}


def resample(job, load, save):
    out = nn.resample(load(job["input"]), job["new_shape"], job["current"], job["target"], job["order"],
                      job["order_z"], job["force"])
    save(job["name"], out)
    return {}


def new_shape(job, load, save):
    return {"shape": nn.new_shape_for(job["shape"], job["spacing"], job["target"])}


def separate_z(job, load, save):
    do_separate, axis = nn.separate_z(job["force"], job["current"], job["target"])
    return {"axis": axis if do_separate else None}


def pad(job, load, save):
    padded, revert = nn.pad_to_patch(torch.from_numpy(load(job["input"])), job["patch"])
    save(job["name"], padded.numpy())
    return {"region": [[s.start, s.stop] for s in revert]}


def largest_component(job, load, save):
    """nnU-Net's postprocessing step with scipy.ndimage.label's labelling (nn.keep_largest_component)."""
    seg = np.rint(load(job["input"])[0]).astype(np.int64)
    save(job["name"], nn.keep_largest_component(seg, job["labels"])[None])
    return {"components": int(ndi.label(np.isin(seg, job["labels"]), structure=np.ones((3, 3, 3)))[1])}


def case(job, load, save):
    """A real image through nnU-Net's preprocessing, and random logits on its network grid back to the
    cropped source grid."""
    plan = json.load(open(job["plan"]))
    data, spacing, _ = nn.read_image([job["image"]], plan["image_reader_writer"])
    save(job["name"] + "_input", data)
    preprocessed, props = nn.preprocess(data.copy(), spacing, plan)
    save(job["name"] + "_preprocessed", preprocessed)
    rng = np.random.default_rng(job["seed"])
    logits = rng.normal(size=(plan["output"]["channels"], *preprocessed.shape[1:])).astype(np.float32)
    save(job["name"] + "_logits", logits)
    save(job["name"] + "_logits_back", nn.logits_to_source(torch.from_numpy(logits), props, plan))
    return {"spacing": spacing, "bbox": props["bbox"], "target_spacing": props["target_spacing"]}


def main():
    folder = sys.argv[1]
    load = lambda name: np.load(os.path.join(folder, name))  # noqa: E731
    save = lambda name, array: np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(array, np.float32))  # noqa: E731
    results = {}
    for job in json.load(open(os.path.join(folder, "jobs.json"))):
        results[job["name"]] = globals()[job["op"]](job, load, save)
    json.dump(results, open(os.path.join(folder, "results.json"), "w"))


if __name__ == "__main__":
    main()
