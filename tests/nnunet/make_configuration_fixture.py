#!/usr/bin/python3
"""Builds nnU-Net v2 results folders for configurations the reference data has no predictions of, from one of
../shared/data/nnunet's trainer folders (its plans.json and dataset.json):

  2d         the plans' own 2d configuration; fold_0/checkpoint_final.pth holds that 2-D network with
             nnU-Net's initialisation (InitWeights_He(1e-2): Kaiming-normal conv weights, zero biases; seeded),
             saved as nnU-Net's trainer saves a checkpoint (network_weights, trainer_name, current_epoch,
             inference_allowed_mirroring_axes: (0, 1) as nnUNetTrainer gives 2-D patches, None for NoMirroring). Untrained: its labels
             are arbitrary but deterministic, enough to compare two implementations voxel for voxel.
  3d_lowres  a plans copy with a 3d_lowres entry that inherits_from 3d_fullres and overrides spacing, patch_size
             and data_identifier, as nnU-Net's planner writes lowres stages; its fold_0 is the trained 3d_fullres
             checkpoint (same architecture), so its predictions are a real model's at a coarser spacing.

usage: tests/nnunet/make_configuration_fixture.py SOURCE_TRAINER_DIR OUT_RESULTS_DIR {2d,3d_lowres} [--seed N]
       [--postprocessing LABELS;LABELS...]   writes crossval_results_folds_0/postprocessing.json as nnU-Net's
                                             determine_postprocessing does, one step per ;-separated label list
                                             (or JSON labels_or_regions, for region models)
(tests/nnunet/make_region_fixture.py builds a region-based folder.)
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
from nnunet_networks import build_network  # noqa: E402
from nnunet_results import architecture_of, label_info, resolve_configuration  # noqa: E402

# Coarser spacing and a patch divisible by the network's total stride, per reference dataset.
LOWRES = {"Dataset501_Hippocampus": {"spacing": [1.6, 1.6, 1.6], "patch_size": [32, 40, 32]},
          "Dataset502_CTOrgans": {"spacing": [5.0, 2.4, 2.4], "patch_size": [40, 40, 64]}}


def he_initialised(network: torch.nn.Module, seed: int) -> torch.nn.Module:
    """nnU-Net's InitWeights_He(neg_slope=1e-2)."""
    torch.manual_seed(seed)
    for module in network.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)):
            torch.nn.init.kaiming_normal_(module.weight, a=1e-2)
            if module.bias is not None:
                torch.nn.init.constant_(module.bias, 0)
    return network


def checkpoint(weights: dict, trainer: str) -> dict:
    """The keys nnUNetTrainer.save_checkpoint writes that inference reads, and the rest as placeholders."""
    return {"network_weights": weights, "optimizer_state": {}, "grad_scaler_state": None, "logging": {},
            "_best_ema": None, "current_epoch": 0, "init_args": {}, "trainer_name": trainer,
            # nnUNetTrainer allows every axis of a 2-D patch; nnUNetTrainerNoMirroring none.
            "inference_allowed_mirroring_axes": None if "NoMirroring" in trainer else (0, 1)}


def postprocessing_json(steps: str) -> dict:
    """postprocessing.json as determine_postprocessing saves it (the Dice figures left out). A step is a label list
    ("1,2") or labels_or_regions as JSON ("[[1, 2], [2]]": regions, tuples there, are lists in the file)."""
    kwargs = []
    for step in steps.split(";"):
        if step.lstrip().startswith("["):
            kwargs.append({"labels_or_regions": json.loads(step)})
            continue
        labels = [int(v) for v in step.split(",")]
        kwargs.append({"labels_or_regions": labels if len(labels) > 1 else labels[0]})
    return {"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"] * len(kwargs),
            "postprocessing_kwargs": kwargs}


def write_postprocessing(trainer: str, folds: str, steps: str) -> None:
    """TRAINER/crossval_results_folds_<folds>/postprocessing.json, where find_best_configuration puts it."""
    crossval = os.path.join(trainer, f"crossval_results_folds_{folds.replace(',', '_')}")
    os.makedirs(crossval)
    with open(os.path.join(crossval, "postprocessing.json"), "w") as f:
        json.dump(postprocessing_json(steps), f, indent=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("configuration", choices=("2d", "3d_lowres"))
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--postprocessing", default=None)
    args = parser.parse_args()
    with open(os.path.join(args.source, "plans.json")) as f:
        plans = json.load(f)
    with open(os.path.join(args.source, "dataset.json")) as f:
        dataset = json.load(f)
    trainer_name = os.path.basename(os.path.normpath(args.source)).split("__")[0]
    trainer = os.path.join(args.out, plans["dataset_name"], f"{trainer_name}__{plans['plans_name']}__{args.configuration}")
    os.makedirs(os.path.join(trainer, "fold_0"))
    fold = os.path.join(trainer, "fold_0", "checkpoint_final.pth")
    if args.configuration == "2d":
        architecture, _ = architecture_of(resolve_configuration(plans, "2d"))
        network = build_network(architecture, len(dataset["channel_names"]), label_info(dataset)["num_segmentation_heads"])
        torch.save(checkpoint(he_initialised(network, args.seed).state_dict(), trainer_name), fold)
    else:
        plans["configurations"]["3d_lowres"] = {"inherits_from": "3d_fullres",
                                                "data_identifier": f"{plans['plans_name']}_3d_lowres",
                                                "next_stage": "3d_cascade_fullres", **LOWRES[plans["dataset_name"]]}
        shutil.copyfile(os.path.join(args.source, "fold_0", "checkpoint_final.pth"), fold)
    with open(os.path.join(trainer, "plans.json"), "w") as f:
        json.dump(plans, f, indent=1)
    shutil.copyfile(os.path.join(args.source, "dataset.json"), os.path.join(trainer, "dataset.json"))
    if args.postprocessing:
        write_postprocessing(trainer, "0", args.postprocessing)
    print(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
