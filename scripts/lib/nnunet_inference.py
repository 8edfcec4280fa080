"""nnU-Net v2's prediction of one case (nnUNetPredictor.predict_from_files), re-implemented with numpy, scipy and
torch around an exported model.pt, to prove the export. Each step names the nnU-Net function it mirrors
(nnunetv2 2.8.1, commit 0e49508; acvl_utils 0.2.5; skimage 0.19.3 in the reference environment).

Conventions (what medpipe's C++ side has to match):
  * Axes: NibabelIO reads get_fdata() (scl_slope/inter applied) and transposes it (2, 1, 0): arrays are
    (channel, z, y, x) of the NIfTI voxel grid, spacing = zooms reversed; the affine is ignored.
    transpose_forward then permutes the three spatial axes (spacing with them).
  * Resampling (default_resampling.resample_data_or_seg) is skimage.transform.resize(order, mode='edge',
    anti_aliasing=False), i.e. scipy.ndimage.zoom(order, mode='nearest', grid_mode=True) with the output
    clipped to the input's [min, max]: output voxel i samples input coordinate (i + 0.5) * n_in / n_out - 0.5
    (voxel centres, 'align_corners=False'). skimage is not installed here, so that call is made directly.
  * Separate-z (spacing ratio > 3): 2-D resize (same rule) of each slice across the low-resolution axis, then
    scipy.ndimage.map_coordinates(order=order_z (0: nearest), mode='nearest') along it, same coordinate rule.
"""
import itertools
import time
from typing import List, Optional, Sequence, Tuple

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage as ndi

ANISO_THRESHOLD = 3


# ---------------------------------------------------------------------------------------------- reading

def read_image(paths: Sequence[str], reader: str) -> Tuple[np.ndarray, List[float], np.ndarray]:
    """(data float32 (C, z, y, x), spacing (z, y, x), affine of the first file), as NibabelIO.read_images.
    SimpleITKIO gives the same array and spacing for NIfTI (both keep the stored voxel order);
    NibabelIOWithReorient first reorients to RAS."""
    if reader not in ("NibabelIO", "SimpleITKIO", "NibabelIOWithReorient"):
        raise ValueError(f"image reader {reader} is not re-implemented")
    images, spacing, affine = [], None, None
    for path in paths:
        image = nib.load(path)
        if image.ndim != 3:
            raise ValueError(f"{path}: {image.ndim}-D image, nnU-Net's NIfTI readers take 3-D only")
        if affine is None:
            affine = image.affine
        if reader == "NibabelIOWithReorient":
            image = image.as_reoriented(nib.orientations.io_orientation(image.affine))
        spacing = [float(z) for z in image.header.get_zooms()[::-1]]
        images.append(image.get_fdata().transpose((2, 1, 0))[None])
    return np.vstack(images).astype(np.float32, copy=False), spacing, affine


# ---------------------------------------------------------------------------------------------- cropping

def nonzero_bbox(data: np.ndarray) -> Tuple[List[List[int]], np.ndarray]:
    """crop_to_nonzero: bounding box of binary_fill_holes(any channel != 0), and the filled mask."""
    mask = ndi.binary_fill_holes(np.any(data != 0, axis=0))
    bbox = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(np.any(mask, axis=others))
        # acvl_utils' get_bbox_from_mask keeps the full extent along an axis with no foreground.
        bbox.append([int(hit[0]), int(hit[-1]) + 1] if hit.size else [0, mask.shape[axis]])
    return bbox, mask


def bbox_slicer(bbox: List[List[int]]) -> Tuple[slice, ...]:
    return tuple(slice(lo, hi) for lo, hi in bbox)


# ---------------------------------------------------------------------------------------------- normalising

def normalise(image: np.ndarray, scheme: str, use_mask: bool, mask: np.ndarray, props: Optional[dict]) -> np.ndarray:
    """One channel (float32), as nnunetv2.preprocessing.normalization.default_normalization_schemes."""
    image = image.astype(np.float32, copy=False)
    if scheme == "CTNormalization":
        np.clip(image, props["percentile_00_5"], props["percentile_99_5"], out=image)
        image -= props["mean"]
        image /= max(props["std"], 1e-8)
    elif scheme == "ZScoreNormalization":
        if use_mask:
            values = image[mask]
            mean, std = values.mean(), values.std()
            image[mask] = (image[mask] - mean) / max(std, 1e-8)
        else:
            mean, std = image.mean(), image.std()
            image -= mean
            image /= max(std, 1e-8)
    elif scheme == "NoNormalization":
        pass
    elif scheme == "RescaleTo01Normalization":
        image -= image.min()
        image /= np.clip(image.max(), a_min=1e-8, a_max=None)
    elif scheme == "RGBTo01Normalization":
        image /= 255.
    else:
        raise ValueError(f"normalisation scheme {scheme} is not re-implemented")
    return image


# ---------------------------------------------------------------------------------------------- resampling

def new_shape_for(shape: Sequence[int], spacing: Sequence[float], target: Sequence[float]) -> List[int]:
    """compute_new_shape: round(old_spacing / new_spacing * old_shape), Python's round (half to even)."""
    return [int(round(s / t * n)) for s, t, n in zip(spacing, target, shape)]


def separate_z(force: Optional[bool], current: Sequence[float], new: Sequence[float]) -> Tuple[bool, Optional[int]]:
    """determine_do_sep_z_and_axis: the current spacing decides first, then the new one."""
    def lowres_axes(spacing):
        return np.where(max(spacing) / np.array(spacing) == 1)[0]

    def anisotropic(spacing):
        return (np.max(spacing) / np.min(spacing)) > ANISO_THRESHOLD

    if force is not None:
        axes = lowres_axes(current) if force else None
        do_separate = bool(force)
    elif anisotropic(current):
        do_separate, axes = True, lowres_axes(current)
    elif anisotropic(new):
        do_separate, axes = True, lowres_axes(new)
    else:
        do_separate, axes = False, None
    if axes is None or len(axes) != 1:
        # No single low-resolution axis (e.g. 0.24 x 1.25 x 1.25 has two): nnU-Net resamples all axes together.
        return False, None
    return do_separate, int(axes[0])


def skimage_resize(image: np.ndarray, shape: Sequence[int], order: int) -> np.ndarray:
    """skimage.transform.resize(image, shape, order, mode='edge', anti_aliasing=False) for float64 input."""
    zoom = [n_out / n_in for n_in, n_out in zip(image.shape, shape)]
    out = ndi.zoom(image, zoom, order=order, mode="nearest", grid_mode=True)
    return np.clip(out, image.min(), image.max(), out=out)


def resample(data: np.ndarray, new_shape: Sequence[int], current_spacing: Sequence[float],
             new_spacing: Sequence[float], order: int, order_z: int = 0, force_separate_z: Optional[bool] = None,
             is_seg: bool = False) -> np.ndarray:
    """resample_data_or_seg_to_shape for images and logits (is_seg False); keeps the input dtype."""
    if is_seg:
        raise ValueError("segmentation resampling is not needed for prediction and not re-implemented")
    shape, new_shape = np.array(data.shape[1:]), np.array(new_shape)
    if np.all(shape == new_shape):
        return data
    do_separate, axis = separate_z(force_separate_z, current_spacing, new_spacing)
    out = np.zeros((data.shape[0], *new_shape), dtype=data.dtype)  # nnU-Net keeps the input dtype (float16 logits)
    work = data.astype(float)
    for c in range(data.shape[0]):
        if not do_separate:
            out[c] = skimage_resize(work[c], new_shape, order)
            continue
        in_plane = [n for a, n in enumerate(new_shape) if a != axis]
        by_slice = np.moveaxis(work[c], axis, 0)  # a view: np.take along an axis copies and is far slower
        stacked = np.stack([skimage_resize(plane, in_plane, order) for plane in by_slice], axis=axis)
        if shape[axis] == new_shape[axis]:
            out[c] = stacked
            continue
        # Along the low-resolution axis: map_coordinates with the voxel-centre rule on every axis (the in-plane
        # axes already have their final size, so their scale is 1).
        grid = np.mgrid[tuple(slice(0, n) for n in new_shape)].astype(float)
        for a in range(3):
            grid[a] = stacked.shape[a] / new_shape[a] * (grid[a] + 0.5) - 0.5
        out[c] = ndi.map_coordinates(stacked, grid, order=order_z, mode="nearest")
    return out


# ---------------------------------------------------------------------------------------------- preprocessing

def preprocess(data: np.ndarray, spacing: List[float], plan: dict) -> Tuple[np.ndarray, dict]:
    """DefaultPreprocessor.run_case: transpose, crop to nonzero, normalise, resample to the plan's spacing."""
    data = data.astype(np.float32)
    forward = plan["transpose_forward"]
    data = data.transpose([0, *[a + 1 for a in forward]])
    spacing = [spacing[a] for a in forward]
    props = {"spacing_transposed": spacing, "shape_before_cropping": data.shape[1:]}
    bbox, mask = nonzero_bbox(data)
    data = data[(slice(None), *bbox_slicer(bbox))]
    mask = mask[bbox_slicer(bbox)]
    props.update(bbox=bbox, shape_after_cropping=data.shape[1:])
    target = list(plan["spacing"])
    if len(target) < 3:
        target = [spacing[0]] + target  # 2-D configurations keep the spacing between slices
    props["target_spacing"] = target
    new_shape = new_shape_for(data.shape[1:], spacing, target)
    # nnU-Net normalises before resampling (so that the nonzero mask still fits the image).
    for c, norm in enumerate(plan["normalization"]):
        data[c] = normalise(data[c], norm["scheme"], norm["use_mask_for_norm"], mask, norm["intensity_properties"])
    kwargs = plan["resampling"]["data"]["kwargs"]
    data = resample(data, new_shape, spacing, target, kwargs["order"], kwargs.get("order_z", 0),
                    kwargs.get("force_separate_z"), kwargs.get("is_seg", False))
    return data, props


# ---------------------------------------------------------------------------------------------- sliding window

def sliding_window_steps(image_size: Sequence[int], patch: Sequence[int], step: float) -> List[List[int]]:
    """compute_steps_for_sliding_window: evenly spread starts, at most step * patch apart."""
    steps = []
    for size, tile in zip(image_size, patch):
        count = int(np.ceil((size - tile) / (tile * step))) + 1
        stride = (size - tile) / (count - 1) if count > 1 else 99999999999
        steps.append([int(np.round(stride * i)) for i in range(count)])
    return steps


def sliding_window_slicers(image_size: Sequence[int], patch: Sequence[int], step: float) -> List[tuple]:
    """_internal_get_sliding_window_slicers without the channel axis: 3-D windows, or for a 2-D patch every d0
    slice (an index, so the tile loses that axis) with 2-D windows over the other two axes."""
    if len(patch) == len(image_size) - 1:
        steps = sliding_window_steps(image_size[1:], patch, step)
        return [(d, *[slice(s, s + n) for s, n in zip(corner, patch)])
                for d in range(image_size[0]) for corner in itertools.product(*steps)]
    return [tuple(slice(s, s + n) for s, n in zip(corner, patch))
            for corner in itertools.product(*sliding_window_steps(image_size, patch, step))]


def gaussian_map(patch: Sequence[int], dtype=torch.float16) -> torch.Tensor:
    """compute_gaussian(sigma_scale=1/8, value_scaling_factor=10), float16 like nnU-Net's results arrays."""
    impulse = np.zeros(patch)
    impulse[tuple(n // 2 for n in patch)] = 1
    gaussian = torch.from_numpy(ndi.gaussian_filter(impulse, [n / 8 for n in patch], 0, mode="constant", cval=0))
    gaussian /= torch.max(gaussian) / 10
    gaussian = gaussian.to(dtype)
    gaussian[gaussian == 0] = torch.min(gaussian[gaussian != 0])  # zero weights would give NaN at division
    return gaussian


def pad_to_patch(data: torch.Tensor, patch: Sequence[int]) -> Tuple[torch.Tensor, Tuple[slice, ...]]:
    """acvl_utils pad_nd_image(mode='constant', value 0): pad the last len(patch) axes up to the patch (a 2-D
    patch leaves d0 alone), below gets the smaller half."""
    shape = data.shape[1:]
    patch = [*shape[:len(shape) - len(patch)], *patch]
    pads, revert = [], []
    for size, tile in zip(shape, patch):
        diff = max(tile - size, 0)
        pads.append((diff // 2, diff // 2 + diff % 2))
        revert.append(slice(diff // 2, diff // 2 + size))
    flat = [p for pair in reversed(pads) for p in pair]  # torch.nn.functional.pad wants the last axis first
    return torch.nn.functional.pad(data, flat, mode="constant", value=0), tuple(revert)


def mirror_combinations(mirror_axes: Optional[Sequence[int]]) -> List[Tuple[int, ...]]:
    """The flips nnU-Net averages, in its order: none, then every non-empty subset of the allowed (spatial)
    axes, numbered from 0 = first spatial axis."""
    combos = [()]
    if mirror_axes:
        combos += [c for i in range(len(mirror_axes)) for c in itertools.combinations(mirror_axes, i + 1)]
    return combos


def predict_patches(model, patches: torch.Tensor, mirror_axes: Optional[Sequence[int]], per_fold: bool) -> torch.Tensor:
    """_internal_maybe_mirror_and_predict for a batch of tiles [T, C, *patch] -> [F, T, K, *patch], F = folds
    (per_fold, through model.fold_logits) or 1 (model.forward, the folds' mean). All flips of all tiles go
    through the network as one batch: instance norm is per sample, so this equals nnU-Net's one-at-a-time calls
    up to float rounding, and is much faster on CPU (torch 1.13 uses oneDNN only for batches > 1)."""
    combos = mirror_combinations(mirror_axes)
    batch = torch.cat([torch.flip(patches, [a + 2 for a in c]) if c else patches for c in combos])
    out = model.fold_logits(batch) if per_fold else model(batch)[None]
    out = out.reshape(out.shape[0], len(combos), patches.shape[0], *out.shape[2:])
    total = out[:, 0].clone()
    for i, c in enumerate(combos[1:], start=1):
        total += torch.flip(out[:, i], [a + 3 for a in c])  # [F, T, K, *patch]: spatial axes start at 3
    return total / len(combos) if len(combos) > 1 else total


def predict_logits(model, data: np.ndarray, patch: Sequence[int], mirror_axes: Optional[Sequence[int]],
                   step: float = 0.5, accumulate=torch.float16, per_fold: bool = True,
                   tile_batch: int = 1) -> Tuple[torch.Tensor, int]:
    """predict_logits_from_preprocessed_data: pad, Gaussian-weighted tiles, divide, unpad, average the folds.
    nnU-Net stitches each fold in float16 (accumulate=torch.float16), then sums the folds in float16 and divides
    (per_fold=True reproduces that); per_fold=False stitches model.forward's fold mean once, as medpipe does."""
    padded, revert = pad_to_patch(torch.from_numpy(data), patch)
    gaussian = gaussian_map(patch)
    logits = None
    weights = torch.zeros(padded.shape[1:], dtype=accumulate)
    windows = sliding_window_slicers(padded.shape[1:], patch, step)
    with torch.no_grad():
        for first in range(0, len(windows), tile_batch):
            chunk = windows[first:first + tile_batch]
            tiles = torch.stack([padded[(slice(None), *w)] for w in chunk])
            predictions = predict_patches(model, tiles, mirror_axes, per_fold)
            if logits is None:
                logits = torch.zeros((predictions.shape[0], predictions.shape[2], *padded.shape[1:]), dtype=accumulate)
            for t, window in enumerate(chunk):
                prediction = predictions[:, t]
                prediction *= gaussian  # float32 * float16 -> float32, as in nnU-Net
                # Added in float32 and rounded once to the accumulator's type, as torch does for nnU-Net's += .
                logits[(slice(None), slice(None), *window)] += prediction
                weights[window] += gaussian
    logits /= weights
    combined = logits[0]
    for fold in range(1, logits.shape[0]):
        combined += logits[fold]
    if logits.shape[0] > 1:
        combined /= logits.shape[0]
    return combined[(slice(None), *revert)], len(windows)


# ---------------------------------------------------------------------------------------------- export

def logits_to_source(logits: torch.Tensor, props: dict, plan: dict) -> np.ndarray:
    """The logits resampled back onto the cropped source grid (resampling_fn_probabilities; the current
    spacing is the plan's, the new one the image's), still in the logits' dtype."""
    kwargs = plan["resampling"]["probabilities"]["kwargs"]
    return resample(logits.numpy(), props["shape_after_cropping"], props["target_spacing"],
                    props["spacing_transposed"], kwargs["order"], kwargs.get("order_z", 0),
                    kwargs.get("force_separate_z"), kwargs.get("is_seg", False))


def probabilities_and_labels(logits: np.ndarray, plan: dict) -> Tuple[np.ndarray, np.ndarray]:
    """LabelManager.apply_inference_nonlin (float32) and convert_probabilities_to_segmentation."""
    values = torch.from_numpy(logits).float()
    if plan["has_regions"]:
        probabilities = torch.sigmoid(values).numpy()
        labels = np.zeros(probabilities.shape[1:], dtype=np.uint16)
        for region, label in enumerate(plan["regions_class_order"]):
            labels[probabilities[region] > 0.5] = label
        return probabilities, labels
    probabilities = torch.softmax(values, 0).numpy()
    return probabilities, probabilities.argmax(0)


def uncrop(labels: np.ndarray, probabilities: np.ndarray, props: dict, plan: dict) -> Tuple[np.ndarray, np.ndarray]:
    """Pastes into the crop box and undoes transpose_forward: (z, y, x) order of the image, as nnU-Net's .npz;
    outside the box the label is 0 and background's probability is 1."""
    box = bbox_slicer(props["bbox"])
    full = np.zeros(props["shape_before_cropping"], dtype=np.uint8 if labels.max() < 255 else np.uint16)
    full[box] = labels
    full_probabilities = np.zeros((probabilities.shape[0], *props["shape_before_cropping"]), dtype=np.float32)
    if not plan["has_regions"]:
        full_probabilities[0] = 1
    full_probabilities[(slice(None), *box)] = probabilities
    backward = plan["transpose_backward"]
    return full.transpose(backward), full_probabilities.transpose([0, *[a + 1 for a in backward]])


def keep_largest_component(seg: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """remove_all_but_largest_component_from_segmentation (nnU-Net's postprocessing.json step): the union of
    LABELS keeps every component of its largest size (acvl_utils, skimage.measure.label with full connectivity;
    labelled here by scipy.ndimage.label with the full 3x3x3 structure), the rest becomes 0."""
    seg = seg.copy()
    mask = np.isin(seg, labels)
    components, count = ndi.label(mask, structure=np.ones((3,) * seg.ndim))
    if count:
        sizes = np.bincount(components.ravel())[1:]
        seg[mask & ~np.isin(components, np.flatnonzero(sizes == sizes.max()) + 1)] = 0
    return seg


def predict_case(model, paths: Sequence[str], plan: dict, accumulate=torch.float16, per_fold: bool = True,
                 tile_batch: int = 1) -> dict:
    """The whole prediction of one case; labels in NIfTI voxel order (x, y, z), probabilities in (C, z, y, x)
    like nnU-Net's .npz; seconds spent before, in and after the sliding window."""
    start = time.perf_counter()
    data, spacing, affine = read_image(paths, plan["image_reader_writer"])
    preprocessed, props = preprocess(data, spacing, plan)
    window_start = time.perf_counter()
    logits, tiles = predict_logits(model, preprocessed, plan["patch_size"], plan["inference"]["allowed_mirroring_axes"],
                                   plan["inference"]["tile_step_size"], accumulate, per_fold, tile_batch)
    window_end = time.perf_counter()
    source_logits = logits_to_source(logits, props, plan)
    probabilities, labels = probabilities_and_labels(source_logits, plan)
    labels_zyx, probabilities_zyx = uncrop(labels, probabilities, props, plan)
    end = time.perf_counter()
    return {"labels": labels_zyx.transpose(2, 1, 0), "probabilities": probabilities_zyx, "affine": affine,
            "preprocessed_shape": list(preprocessed.shape), "tiles": tiles,
            "seconds": {"preprocess": window_start - start, "sliding_window": window_end - window_start,
                        "export": end - window_end, "total": end - start}}
