"""Reading an nnU-Net v2 results folder (Dataset*/Trainer__Plans__configuration/fold_*/checkpoint_*.pth) without
nnU-Net installed: the trainer folder, the resolved plans configuration, the labels, and checkpoints loaded
through a restricted unpickler.
"""
import copy
import glob
import json
import os
import pickle
import re
from typing import Dict, List, Optional, Tuple

import torch


# nnU-Net's default_resampling.ANISO_THRESHOLD: separate-z resampling when max/min spacing exceeds it.
ANISO_THRESHOLD = 3
TILE_STEP_SIZE = 0.5  # nnUNetPredictor's default
CASCADE_HINT = "cascades need the previous stage's segmentation as extra input channels"


class ResultsError(Exception):
    """The results folder cannot be exported; the message names what is missing or unsupported."""


# ---------------------------------------------------------------------------------------------- checkpoints

# What an nnU-Net v2 checkpoint pickles: tensors and their storages, the state dicts' OrderedDicts, the
# trainer's torch.device, numpy scalars in the training log, and bytes (numpy pickles them via _codecs).
SAFE_GLOBALS = {
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
    ("torch", "device"), ("torch", "Size"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("_codecs", "encode"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"),
}
STORAGE = re.compile(r"^(Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool)Storage$")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only SAFE_GLOBALS, so a checkpoint cannot run code. numpy >= 2 writes its scalars as
    numpy._core.multiarray.scalar (nnU-Net's training log holds numpy floats), which numpy 1.x names
    numpy.core: that one name is mapped, nothing else is substituted."""
    remapped: List[str] = []

    def find_class(self, module, name):
        if module.startswith("numpy._core"):
            RestrictedUnpickler.remapped.append(f"{module}.{name}")
            module = "numpy.core" + module[len("numpy._core"):]
        if (module, name) in SAFE_GLOBALS or (module == "torch" and STORAGE.match(name)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"checkpoint references {module}.{name}, which is not on the allow-list of "
                                     f"nnunet_results.SAFE_GLOBALS; refusing to unpickle it")


class RestrictedPickleModule:
    """What torch's loader wants of a pickle module: an Unpickler class."""
    Unpickler = RestrictedUnpickler


def load_checkpoint(path: str) -> Tuple[dict, List[str]]:
    """The checkpoint dict, unpickled through RestrictedUnpickler, and the global names it remapped.

    torch.load(pickle_module=...) cannot be used for this: Debian's torch 1.13 ignores pickle_module unless
    weights_only is set, and weights_only refuses the numpy scalars of nnU-Net's log. So this calls the zip
    reader that torch.load itself uses (torch.serialization._load, private but the same in torch 1.13-2.x)."""
    RestrictedUnpickler.remapped = []
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise ResultsError(f"{path} is not a zip-format torch checkpoint (legacy torch.save format)")
    try:
        with torch.serialization._open_zipfile_reader(path) as archive:
            checkpoint = torch.serialization._load(archive, torch.device("cpu"), RestrictedPickleModule,
                                                   encoding="utf-8")
    except pickle.UnpicklingError as error:
        raise ResultsError(f"{path}: {error}") from error
    if not isinstance(checkpoint, dict) or "network_weights" not in checkpoint:
        raise ResultsError(f"{path} has no 'network_weights'")
    return checkpoint, sorted(set(RestrictedUnpickler.remapped))


def network_weights(checkpoint: dict) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The state dict, without the prefixes that a DDP ('module.') or torch.compile ('_orig_mod.') training
    run adds to every key (nnU-Net's trainer strips them the same way); the prefixes removed are returned."""
    weights, removed = {}, set()
    for key, value in checkpoint["network_weights"].items():
        for prefix in ("module.", "_orig_mod."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                removed.add(prefix)
        weights[key] = value
    return weights, sorted(removed)


# ---------------------------------------------------------------------------------------------- folders

def split_trainer_folder(name: str) -> Tuple[str, str, str]:
    parts = name.split("__")
    if len(parts) != 3:
        raise ResultsError(f"{name!r} is not an nnU-Net trainer folder (Trainer__Plans__configuration)")
    return parts[0], parts[1], parts[2]


def find_trainer_folder(results_dir: str, configuration: Optional[str]) -> Tuple[str, str]:
    """(trainer folder, configuration) for a DatasetXXX_Name folder or one of its trainer folders."""
    results_dir = os.path.abspath(results_dir)
    if not os.path.isdir(results_dir):
        raise ResultsError(f"{results_dir} is not a folder")
    if os.path.isfile(os.path.join(results_dir, "plans.json")):
        folder_configuration = split_trainer_folder(os.path.basename(results_dir))[2]
        if configuration is not None and configuration != folder_configuration:
            raise ResultsError(f"{results_dir} holds configuration {folder_configuration!r}, not {configuration!r}")
        return results_dir, folder_configuration
    configuration = configuration or "3d_fullres"
    candidates = sorted(d for d in glob.glob(os.path.join(results_dir, f"*__*__{configuration}"))
                        if os.path.isfile(os.path.join(d, "plans.json")))
    if not candidates:
        raise ResultsError(f"{results_dir} has no Trainer__Plans__{configuration} folder with a plans.json")
    if len(candidates) > 1:
        names = ", ".join(os.path.basename(c) for c in candidates)
        raise ResultsError(f"{results_dir} has several trainer folders for {configuration} ({names}); "
                           f"pass the one to export")
    return candidates[0], configuration


def fold_folders(trainer_dir: str, folds: str, checkpoint_name: str) -> List[Tuple[str, str]]:
    """[(fold id, checkpoint path)]. 'all' finds folds as nnU-Net's predictor does (every fold_N holding the
    checkpoint; fold_all is left out); otherwise a comma list of fold numbers or 'fold_all', each required."""
    if folds == "all":
        found = []
        for d in glob.glob(os.path.join(trainer_dir, "fold_*")):
            fold = os.path.basename(d)[len("fold_"):]
            if fold.isdigit() and os.path.isfile(os.path.join(d, checkpoint_name)):
                found.append((int(fold), os.path.join(d, checkpoint_name)))
        if not found:
            raise ResultsError(f"{trainer_dir} has no fold_N/{checkpoint_name}")
        return [(str(f), p) for f, p in sorted(found)]
    result = []
    for item in folds.split(","):
        item = item.strip()
        fold = "all" if item in ("fold_all", "all_fold") else item
        if fold != "all" and not fold.isdigit():
            raise ResultsError(f"fold {item!r} is neither a number nor fold_all")
        path = os.path.join(trainer_dir, f"fold_{fold}", checkpoint_name)
        if not os.path.isfile(path):
            raise ResultsError(f"missing fold {fold}: {path} does not exist")
        result.append((fold, path))
    if len({f for f, _ in result}) != len(result):
        raise ResultsError(f"fold list {folds!r} names a fold twice")
    return result


def read_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise ResultsError(f"missing {path}")
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------- plans

def resolve_configuration(plans: dict, name: str) -> dict:
    """A configuration with its 'inherits_from' chain merged, as nnU-Net's PlansManager.get_configuration."""
    configurations = plans["configurations"]
    if name not in configurations:
        raise ResultsError(f"plans.json has no configuration {name!r} (has {sorted(configurations)})")
    own = configurations[name]
    if "inherits_from" in own:
        parent = own["inherits_from"]
        if parent == name:
            raise ResultsError(f"configuration {name!r} inherits from itself")
        merged = copy.deepcopy(resolve_configuration(plans, parent))
        merged.update(own)
        return merged
    return copy.deepcopy(own)


def architecture_from_old_plans(configuration: dict) -> dict:
    """nnU-Net < 2.4 plans (TotalSegmentator v2 among them) describe the U-Net by UNet_class_name and a few
    numbers; nnU-Net's ConfigurationManager rebuilds the 'architecture' entry from them like this."""
    class_name = configuration["UNet_class_name"]
    if class_name not in ("PlainConvUNet", "ResidualEncoderUNet"):
        raise ResultsError(f"old-style plans name network {class_name!r}: only PlainConvUNet and "
                           f"ResidualEncoderUNet are supported")
    n_stages = len(configuration["n_conv_per_stage_encoder"])
    dim = len(configuration["patch_size"])
    per_stage = "n_conv_per_stage" if class_name == "PlainConvUNet" else "n_blocks_per_stage"
    module = "dynamic_network_architectures.architectures." + ("unet" if class_name == "PlainConvUNet"
                                                               else "residual_unet")
    return {
        "network_class_name": f"{module}.{class_name}",
        "arch_kwargs": {
            "n_stages": n_stages,
            "features_per_stage": [min(configuration["UNet_base_num_features"] * 2 ** i,
                                       configuration["unet_max_num_features"]) for i in range(n_stages)],
            "conv_op": f"torch.nn.modules.conv.Conv{dim}d",
            "kernel_sizes": configuration["conv_kernel_sizes"],
            "strides": configuration["pool_op_kernel_sizes"],
            per_stage: configuration["n_conv_per_stage_encoder"],
            "n_conv_per_stage_decoder": configuration["n_conv_per_stage_decoder"],
            "conv_bias": True,
            "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{dim}d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None, "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }


def architecture_of(configuration: dict) -> Tuple[dict, bool]:
    """(architecture entry, whether it was converted from old-style plans)."""
    if "architecture" in configuration:
        return configuration["architecture"], False
    if "UNet_class_name" in configuration:
        return architecture_from_old_plans(configuration), True
    raise ResultsError("plans configuration has neither 'architecture' nor 'UNet_class_name'")


def refuse_cascade(configuration: dict, name: str) -> None:
    if configuration.get("previous_stage") or "cascade" in name:
        raise ResultsError(f"configuration {name!r} is a cascade (previous_stage "
                           f"{configuration.get('previous_stage')!r}): {CASCADE_HINT}; not supported")


# ---------------------------------------------------------------------------------------------- labels

def label_info(dataset: dict) -> dict:
    """nnU-Net's LabelManager view of dataset.json: output channels, activation, how to decide labels."""
    labels = dataset["labels"]
    has_regions = any(isinstance(v, (list, tuple)) and len(v) > 1 for v in labels.values())
    ignore = labels.get("ignore")
    if has_regions:
        order = dataset.get("regions_class_order")
        if order is None:
            raise ResultsError("dataset.json defines regions but no regions_class_order")
        # LabelManager._get_regions: each entry but 'ignore' and background (0 or only 0s) is one sigmoid output
        # channel, in dataset.json's order; regions_class_order[i] is the label painted where channel i > 0.5.
        regions = [{"name": k, "labels": [int(x) for x in (v if isinstance(v, (list, tuple)) else [v])]}
                   for k, v in labels.items() if k != "ignore"]
        regions = [region for region in regions if set(region["labels"]) != {0}]
        if len(order) != len(regions):
            raise ResultsError(f"dataset.json has {len(regions)} regions but regions_class_order {order} has "
                               f"{len(order)} entries")
        if len(set(order)) != len(order):
            # medpipe's manifest has one sigmoid channel per label, so each label must come from one region.
            raise ResultsError(f"dataset.json's regions_class_order {order} paints a label from more than one region; "
                               f"not supported")
        for region, label in zip(regions, order):
            region["label"] = int(label)
        heads, activation = len(regions), "sigmoid"
    else:
        order, regions = None, None
        values = sorted({int(v) if not isinstance(v, (list, tuple)) else int(v[0])
                         for k, v in labels.items() if k != "ignore"})
        if values != list(range(len(values))):
            raise ResultsError(f"dataset.json labels {values} are not consecutive from 0")
        heads, activation = len(values), "softmax"
    return {"labels": labels, "has_regions": has_regions, "regions_class_order": order, "regions": regions,
            "ignore_label": ignore, "num_segmentation_heads": heads, "activation": activation}


# ---------------------------------------------------------------------------------------------- postprocessing

POSTPROCESSING_FN = "remove_all_but_largest_component_from_segmentation"


def find_postprocessing(trainer_dir: str, choice: str) -> Optional[str]:
    """The postprocessing.json to apply: CHOICE 'none', a file, or 'auto': the one that nnU-Net's
    find_best_configuration wrote into trainer_dir/crossval_results_folds_*/ (none there: None; several: refused,
    as which cross-validation they came from is the user's choice)."""
    if choice == "none":
        return None
    if choice != "auto":
        if not os.path.isfile(choice):
            raise ResultsError(f"--postprocessing {choice}: no such file")
        return os.path.abspath(choice)
    found = sorted(glob.glob(os.path.join(trainer_dir, "crossval_results_folds_*", "postprocessing.json")))
    if len(found) > 1:
        raise ResultsError(f"{trainer_dir} has several postprocessing.json ({', '.join(found)}); pass "
                           f"--postprocessing FILE or none")
    return found[0] if found else None


def label_set(value, path: str) -> List[int]:
    """labels_or_regions as remove_all_but_largest_component_from_segmentation reads it: a label, a region
    (tuple, in JSON a list) or a list of labels or regions; the mask is the union of all their labels."""
    if isinstance(value, bool) or not isinstance(value, (int, list)):
        raise ResultsError(f"{path}: labels_or_regions {value!r} is neither a label nor a list of labels/regions")
    if isinstance(value, int):
        return [value]
    return sorted({label for item in value for label in label_set(item, path)})


def read_postprocessing(path: str, trainer_dir: str, labels: dict) -> dict:
    """postprocessing.json (determine_postprocessing's postprocessing_fns and postprocessing_kwargs) as the steps
    medpipe applies, each the labels whose union keeps only its largest component; refused when a step is another
    function or names a label the model does not predict."""
    description = read_json(path)
    fns, kwargs = description.get("postprocessing_fns"), description.get("postprocessing_kwargs")
    if not isinstance(fns, list) or not isinstance(kwargs, list) or len(fns) != len(kwargs):
        raise ResultsError(f"{path} has no matching postprocessing_fns and postprocessing_kwargs lists")
    known = {v for v in (labels["regions_class_order"] or
                         [v for k, v in labels["labels"].items() if k not in ("background", "ignore")])}
    steps = []
    for fn, arguments in zip(fns, kwargs):
        if fn != POSTPROCESSING_FN:
            raise ResultsError(f"{path}: postprocessing function {fn!r} is not supported (only {POSTPROCESSING_FN})")
        if not isinstance(arguments, dict) or set(arguments) - {"labels_or_regions", "background_label"} or \
                arguments.get("background_label", 0) != 0:
            raise ResultsError(f"{path}: {fn} arguments {arguments!r}: expected labels_or_regions (background 0)")
        values = label_set(arguments.get("labels_or_regions"), path)
        unknown = [v for v in values if v not in known]
        if not values or unknown:
            raise ResultsError(f"{path}: labels_or_regions {arguments.get('labels_or_regions')!r} names labels "
                               f"{unknown or 'none'} that the model does not predict")
        steps.append({"fn": fn, "labels_or_regions": arguments["labels_or_regions"], "labels": values})
    relative = os.path.relpath(path, trainer_dir)
    return {"source": relative if not relative.startswith("..") else path, "steps": steps}


# ---------------------------------------------------------------------------------------------- metadata

def nnunet_description(trainer_dir: str, configuration_name: str, plans: dict, dataset: dict, configuration: dict,
                       folds: List[dict], mirroring_axes, labels: dict, architecture: dict, converted: bool,
                       checkpoint_name: str) -> dict:
    """nnunet.json: everything besides the weights that reproducing nnU-Net's prediction needs."""
    trainer, plans_identifier, _ = split_trainer_folder(os.path.basename(trainer_dir))
    n_channels = len(dataset["channel_names"])
    schemes = configuration["normalization_schemes"]
    props = plans.get("foreground_intensity_properties_per_channel", {})
    normalization = [{"channel": c, "channel_name": dataset["channel_names"][str(c)], "scheme": schemes[c],
                      "use_mask_for_norm": bool(configuration["use_mask_for_norm"][c]),
                      "intensity_properties": props.get(str(c))} for c in range(n_channels)]
    return {
        "format": "medpipe-nnunet-export/1",
        "source": f"{os.path.basename(os.path.dirname(trainer_dir))}/{os.path.basename(trainer_dir)}",
        "dataset_name": plans["dataset_name"],
        "trainer": trainer,
        "plans_identifier": plans_identifier,
        "plans_name": plans.get("plans_name", plans_identifier),
        "configuration": configuration_name,
        "checkpoint": checkpoint_name,
        "folds": folds,
        "image_reader_writer": plans.get("image_reader_writer", "SimpleITKIO"),
        "file_ending": dataset.get("file_ending"),
        "channel_names": dataset["channel_names"],
        "transpose_forward": plans["transpose_forward"],
        "transpose_backward": plans["transpose_backward"],
        "spacing": configuration["spacing"],
        "patch_size": configuration["patch_size"],
        "crop_to_nonzero": True,
        "normalization": normalization,
        "foreground_intensity_properties_per_channel": props,
        "resampling": {
            "separate_z_anisotropy_threshold": ANISO_THRESHOLD,
            "data": {"fn": configuration["resampling_fn_data"], "kwargs": configuration["resampling_fn_data_kwargs"]},
            "probabilities": {"fn": configuration["resampling_fn_probabilities"],
                              "kwargs": configuration["resampling_fn_probabilities_kwargs"]},
            "seg": {"fn": configuration["resampling_fn_seg"], "kwargs": configuration["resampling_fn_seg_kwargs"]},
        },
        "labels": labels["labels"],
        "has_regions": labels["has_regions"],
        "regions_class_order": labels["regions_class_order"],
        "regions": labels["regions"],
        "ignore_label": labels["ignore_label"],
        "output": {"channels": labels["num_segmentation_heads"], "activation": labels["activation"],
                   "logits": "mean over folds of each fold's logits"},
        "inference": {"tile_step_size": TILE_STEP_SIZE, "use_gaussian": True, "gaussian_sigma_scale": 1.0 / 8,
                      "gaussian_value_scaling_factor": 10, "pad_mode": "constant 0, centred",
                      "allowed_mirroring_axes": mirroring_axes},
        "network": {"class": architecture["network_class_name"], "arch_kwargs": architecture["arch_kwargs"],
                    "converted_from_old_plans": converted, "input_channels": n_channels,
                    "deep_supervision": False,
                    "input": "[N, channels, *patch_size] in the transpose_forward frame"},
    }
