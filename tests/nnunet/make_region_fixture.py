#!/usr/bin/python3
"""Builds a region-based nnU-Net v2 results folder (labels given as regions, sigmoid per region) from
../shared/data/nnunet's trained Dataset501_Hippocampus 3d_fullres folder, which has no region model of its own:

  dataset.json  the source's, with its labels as nnU-Net's region_based_training.md declares them (and as
                nnU-Net's BraTS conversion writes its tuples): {"background": 0, "whole": [1, 2], "posterior": [2]}
                and "regions_class_order": [1, 2]: label 1 where "whole" is predicted, then 2 over it where
                "posterior" is. "whole" comes first in the file but after "posterior" alphabetically, so a reader
                that sorts the keys pairs the regions with the wrong labels.
  plans.json    the source's, unchanged.
  fold_N/checkpoint_final.pth
                each source fold's checkpoint, read through the exporter's restricted unpickler, with every
                deep-supervision head (decoder.seg_layers.*, 1x1x1 convolutions) replaced by one output channel
                per region: linear combinations of the trained softmax heads (background z0, anterior z1,
                posterior z2): whole = 0.7 z1 + 0.3 z2 - z0, posterior = z2 - 0.7 z0 - 0.3 z1. A real trained network's
                features, so the regions are hippocampus-shaped and overlap; the rest of the checkpoint as nnU-Net's
                trainer saved it (optimizer state dropped, as its shapes no longer match; init_args' dataset_json
                the region one).
                With --seed N instead: the plans' 3d_fullres network with one output per region and nnU-Net's
                initialisation (seeded, untrained; make_configuration_fixture.py's checkpoint), whose speckled
                regions give postprocessing something to remove, unlike the trained ones.

usage: tests/nnunet/make_region_fixture.py SOURCE_TRAINER_DIR OUT_RESULTS_DIR [--folds 0,1] [--seed N]
                                          [--postprocessing STEPS]
       STEPS: ;-separated labels_or_regions, each a label list "1,2" or JSON as determine_postprocessing writes it
       for regions, e.g. "[[1, 2], [2]]" (every foreground region) or "[1, 2]" (one region)
"""
import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "lib"))
from nnunet_results import load_checkpoint  # noqa: E402
sys.path.insert(0, HERE)
from make_configuration_fixture import checkpoint, he_initialised, write_postprocessing  # noqa: E402
from nnunet_networks import build_network  # noqa: E402
from nnunet_results import architecture_of, resolve_configuration  # noqa: E402

REGION_LABELS = {"background": 0, "whole": [1, 2], "posterior": [2]}
REGIONS_CLASS_ORDER = [1, 2]
# Rows: regions in REGION_LABELS order; columns: the trained heads (background, anterior, posterior).
# Weights chosen on nnU-Net's own probabilities for hippocampus_040 (log-probabilities as logits): Dice against
# the ground truth about 0.78 (label 1) and 0.83 (label 2), near the softmax model's 0.84 and 0.86.
REGION_FROM_SOFTMAX_HEADS = torch.tensor([[-1.0, 0.7, 0.3], [-0.7, -0.3, 1.0]])


def region_dataset(dataset: dict, heads: str) -> dict:
    region = dict(dataset, labels=REGION_LABELS, regions_class_order=REGIONS_CLASS_ORDER)
    region["description"] = f"{dataset.get('description', '')} Region-based test fixture: {heads}."
    return region


def region_weights(weights: dict) -> dict:
    """WEIGHTS with each 1x1x1 segmentation head mapped to the region heads."""
    mapped = dict(weights)
    for key, value in weights.items():
        if ".seg_layers." in key:
            mixed = torch.tensordot(REGION_FROM_SOFTMAX_HEADS.to(value.dtype), value, dims=([1], [0]))
            mapped[key] = mixed.contiguous()
    return mapped


def region_checkpoint(path: str, dataset: dict) -> dict:
    checkpoint, _ = load_checkpoint(path)
    checkpoint["network_weights"] = region_weights(checkpoint["network_weights"])
    checkpoint["optimizer_state"] = {}
    if isinstance(checkpoint.get("init_args"), dict):
        checkpoint["init_args"] = dict(checkpoint["init_args"], dataset_json=dataset)
    return checkpoint


def seeded_checkpoint(plans: dict, dataset: dict, trainer: str, seed: int) -> dict:
    architecture, _ = architecture_of(resolve_configuration(plans, "3d_fullres"))
    network = build_network(architecture, len(dataset["channel_names"]), len(REGIONS_CLASS_ORDER))
    seeded = checkpoint(he_initialised(network, seed).state_dict(), trainer)
    seeded["inference_allowed_mirroring_axes"] = (0, 1, 2)  # nnUNetTrainer's for 3-D patches
    return seeded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--folds", default="0")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--postprocessing", default=None)
    args = parser.parse_args()
    with open(os.path.join(args.source, "dataset.json")) as f:
        dataset = region_dataset(json.load(f), "region heads mixed from the trained softmax heads" if args.seed is None
                                 else f"untrained, nnU-Net's initialisation with seed {args.seed}")
    with open(os.path.join(args.source, "plans.json")) as f:
        plans = json.load(f)
    folder = os.path.basename(os.path.normpath(args.source))
    trainer = os.path.join(args.out, plans["dataset_name"], folder)
    for fold in args.folds.split(","):
        os.makedirs(os.path.join(trainer, f"fold_{fold}"))
        saved = region_checkpoint(os.path.join(args.source, f"fold_{fold}", "checkpoint_final.pth"), dataset) \
            if args.seed is None else seeded_checkpoint(plans, dataset, folder.split("__")[0], args.seed + int(fold))
        torch.save(saved, os.path.join(trainer, f"fold_{fold}", "checkpoint_final.pth"))
    shutil.copyfile(os.path.join(args.source, "plans.json"), os.path.join(trainer, "plans.json"))
    with open(os.path.join(trainer, "dataset.json"), "w") as f:
        json.dump(dataset, f, indent=4, sort_keys=False)  # the regions' order is their meaning
    if args.postprocessing:
        write_postprocessing(trainer, args.folds, args.postprocessing)
    print(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
