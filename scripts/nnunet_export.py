#!/usr/bin/python3
"""Exports an nnU-Net v2 results folder as one TorchScript network (mean of the folds' logits) for medpipe.

    /usr/bin/python3 scripts/nnunet_export.py RESULTS_DIR --out OUT_DIR [--configuration 3d_fullres]
                                              [--folds 0,1|all] [--checkpoint final|best]

RESULTS_DIR is a DatasetXXX_Name/ folder of nnUNet_results or one of its Trainer__Plans__configuration/ folders.
Writes OUT_DIR/model.pt (TorchScript, forward(x[N, C, *patch]) -> mean fold logits [N, K, *patch]),
OUT_DIR/nnunet.json (preprocessing, resampling, sliding-window and label settings; docs/nnunet-import.md) and
OUT_DIR/MODEL_CARD.md. Needs no nnU-Net: the networks are rebuilt by scripts/lib/nnunet_networks.py and each
fold's weights load with strict=True. Refuses cascades, unknown networks and missing folds (exit 2) and leaves
OUT_DIR untouched then: everything is written to a temporary folder that is renamed at the end.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from nnunet_networks import FoldEnsemble, UnsupportedArchitecture, build_network  # noqa: E402
from nnunet_results import (ResultsError, architecture_of, find_postprocessing, find_trainer_folder,  # noqa: E402
                            fold_folders, label_info, load_checkpoint, network_weights, nnunet_description,
                            read_json, read_postprocessing, refuse_cascade, resolve_configuration,
                            split_trainer_folder)
from training import fix_hash_seed, parameter_count, sha256_file  # noqa: E402

GOLDEN_STRIDE = 2048  # as `medpipe model seal`
TRACE_TOLERANCE = 1e-4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir")
    parser.add_argument("--out", required=True, help="output folder (must not exist, or be empty)")
    parser.add_argument("--configuration", default=None, help="default: the trainer folder's, else 3d_fullres")
    parser.add_argument("--folds", default="all", help="comma list (0,1 or fold_all), or all: every fold_N")
    parser.add_argument("--checkpoint", choices=("final", "best"), default="final")
    parser.add_argument("--postprocessing", default="auto",
                        help="auto (crossval_results_folds_*/postprocessing.json if there), none, or a postprocessing.json")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    return parser.parse_args()


def load_fold(architecture: dict, in_channels: int, heads: int, fold: str, path: str, trainer: str) -> tuple:
    """The fold's network with its weights (strict) and what nnunet.json records about the checkpoint."""
    checkpoint, remapped = load_checkpoint(path)
    weights, prefixes = network_weights(checkpoint)
    network = build_network(architecture, in_channels, heads)
    # strict=True: every key of the checkpoint has a place in the rebuilt network and vice versa, so no
    # weight is dropped or left at its initial value (the deep-supervision heads included, see nnunet_networks).
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as error:  # missing/unexpected keys or shapes: the plan does not describe this checkpoint
        raise ResultsError(f"{path} does not fit the network its plans describe: {str(error)[:2000]}") from error
    name = checkpoint.get("trainer_name")
    if name is not None and name != trainer:
        # A renamed folder is no reason to refuse (inference does not depend on the trainer class); say so.
        print(f"warning: {path} was written by trainer {name!r}, the folder says {trainer!r}", file=sys.stderr)
    trainer_dir = os.path.dirname(os.path.dirname(path))
    record = {"fold": int(fold) if fold.isdigit() else fold, "checkpoint": os.path.relpath(path, trainer_dir),
              "sha256": sha256_file(path), "epoch": checkpoint.get("current_epoch"), "trainer_name": name,
              "key_prefixes_removed": prefixes, "pickle_names_remapped": remapped}
    axes = checkpoint.get("inference_allowed_mirroring_axes")
    return network.eval(), record, (list(axes) if axes is not None else None)


def compile_ensemble(ensemble: torch.nn.Module, patch: list, in_channels: int) -> tuple:
    """torch.jit.script, or torch.jit.trace when scripting fails; checked against eager on 2 random inputs."""
    example = torch.randn(1, in_channels, *patch)
    try:
        compiled, method = torch.jit.script(ensemble), "script"
    except Exception as error:  # scripting is best effort: a trace of this static graph is equivalent
        print(f"torch.jit.script failed ({type(error).__name__}: {error}); tracing instead", file=sys.stderr)
        compiled, method = torch.jit.trace(ensemble, example), "trace"
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    with torch.no_grad():
        for _ in range(2):
            x = torch.randn(example.shape, generator=generator) * 3
            worst = max(worst, (compiled(x) - ensemble(x)).abs().max().item())
    if worst >= TRACE_TOLERANCE:
        raise RuntimeError(f"TorchScript {method} differs from eager by {worst:g} (limit {TRACE_TOLERANCE})")
    return compiled, method, worst


def golden(module: torch.nn.Module, in_channels: int, patch: list) -> dict:
    """medpipe's golden convention (models/README.md): x[i] = sin(0.37 i) over the flat index."""
    shape = [1, in_channels, *patch]
    count = 1
    for n in shape:
        count *= n
    x = torch.sin(0.37 * torch.arange(count, dtype=torch.float64)).float().reshape(shape)
    with torch.no_grad():
        y = module(x)
    return {"input_shape": shape, "output_shape": list(y.shape), "stride": GOLDEN_STRIDE,
            "samples": [round(v, 6) for v in y.flatten()[::GOLDEN_STRIDE].tolist()], "tolerance": 1e-4}


def postprocessing_text(postprocessing) -> str:
    if not postprocessing:
        return "none (the results folder has no crossval_results_folds_*/postprocessing.json, or none was asked for)"
    steps = "; ".join(f"keep the largest component of labels {step['labels']}" for step in postprocessing["steps"])
    return (f"from `{postprocessing['source']}` (sha256 `{postprocessing['sha256']}`), nnU-Net's "
            f"remove_all_but_largest_component_from_segmentation in order: {steps or 'no step (nothing improved)'}")


def regions_text(regions) -> str:
    """How a region model's channels become labels (LabelManager.convert_probabilities_to_segmentation)."""
    if not regions:
        return ""
    painted = "; then ".join(f"{r['label']} where {r['name']} {r['labels']}" for r in regions)
    return (f"\n- Region model: one sigmoid output per region, painted where > 0.5 in regions_class_order, later "
            f"over earlier: {painted}. medpipe names each label after the region that paints it.")


def model_card(description: dict, dataset: dict, parameters: int) -> str:
    folds = "\n".join(f"| {f['fold']} | `{f['checkpoint']}` | epoch {f['epoch']} | `{f['sha256']}` |"
                      for f in description["folds"])
    labels = ", ".join(f"{k} = {v}" for k, v in description["labels"].items())
    licence = dataset.get("licence") or dataset.get("license") or "not stated in dataset.json"
    return f"""# {description['dataset_name']} ({description['configuration']}), exported from nnU-Net v2

Exported by `scripts/nnunet_export.py`; see `docs/nnunet-import.md`.

- Dataset: {description['dataset_name']} ({dataset.get('description', 'no description in dataset.json')})
- Reference: {dataset.get('reference', 'not stated')}
- Channels: {json.dumps(description['channel_names'])}; labels: {labels}{regions_text(description.get('regions'))}
- Trainer `{description['trainer']}`, plans `{description['plans_identifier']}`, configuration
  `{description['configuration']}`, network `{description['network']['class'].rpartition('.')[2]}`
  ({parameters} parameters per fold), `{description['checkpoint']}`
- Spacing {description['spacing']}, patch {description['patch_size']} (transpose_forward
  {description['transpose_forward']} frame); test-time mirroring axes
  {description['inference']['allowed_mirroring_axes'] or 'none (the checkpoint allows no mirroring)'}
- `model.pt` returns the mean of the folds' logits.
- Postprocessing: {postprocessing_text(description.get('postprocessing'))}

| fold | checkpoint | | sha256 |
|---|---|---|---|
{folds}

## Licence
dataset.json states: {licence}. The network code follows nnU-Net / dynamic-network-architectures (Apache-2.0);
the weights carry the licence their owner gave them (that of the training data, for most published models):
check it before distributing this folder.
"""


def write_package(tmp: str, compiled, description: dict, card: str) -> None:
    compiled.save(os.path.join(tmp, "model.pt"))
    description["model_sha256"] = sha256_file(os.path.join(tmp, "model.pt"))
    with open(os.path.join(tmp, "nnunet.json"), "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    with open(os.path.join(tmp, "MODEL_CARD.md"), "w") as f:
        f.write(card)


def move_into_place(tmp: str, out: str) -> None:
    """Only a complete package reaches OUT: an empty OUT is replaced, a non-empty one is refused earlier."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the package should read like any folder
    if os.path.isdir(out):
        os.rmdir(out)
    os.rename(tmp, out)


def export(args: argparse.Namespace) -> str:
    out = os.path.abspath(args.out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ResultsError(f"{out} exists and is not an empty folder")
    trainer_dir, configuration_name = find_trainer_folder(args.results_dir, args.configuration)
    trainer = split_trainer_folder(os.path.basename(trainer_dir))[0]
    plans = read_json(os.path.join(trainer_dir, "plans.json"))
    dataset = read_json(os.path.join(trainer_dir, "dataset.json"))
    configuration = resolve_configuration(plans, configuration_name)
    refuse_cascade(configuration, configuration_name)
    architecture, converted = architecture_of(configuration)
    labels = label_info(dataset)
    in_channels = len(dataset["channel_names"])
    checkpoint_name = f"checkpoint_{args.checkpoint}.pth"
    folds = fold_folders(trainer_dir, args.folds, checkpoint_name)
    postprocessing_file = find_postprocessing(trainer_dir, args.postprocessing)
    postprocessing = None
    if postprocessing_file:
        postprocessing = dict(read_postprocessing(postprocessing_file, trainer_dir, labels),
                              sha256=sha256_file(postprocessing_file))

    networks, records, axes = [], [], set()
    for fold, path in folds:
        network, record, mirroring = load_fold(architecture, in_channels, labels["num_segmentation_heads"], fold,
                                               path, trainer)
        networks.append(network)
        records.append(record)
        axes.add(json.dumps(mirroring))
        print(f"fold {fold}: {path} loaded, {len(network.state_dict())} keys, strict", file=sys.stderr)
    if len(axes) != 1:
        raise ResultsError(f"the folds disagree on inference_allowed_mirroring_axes: {sorted(axes)}")
    mirroring_axes = json.loads(axes.pop())

    ensemble = FoldEnsemble(networks).eval()
    compiled, method, worst = compile_ensemble(ensemble, configuration["patch_size"], in_channels)
    description = nnunet_description(trainer_dir, configuration_name, plans, dataset, configuration, records,
                                     mirroring_axes, labels, architecture, converted, checkpoint_name)
    description["postprocessing"] = postprocessing
    description["torchscript"] = {"method": method, "max_abs_diff_vs_eager": worst, "torch": torch.__version__}
    description["golden"] = golden(compiled, in_channels, configuration["patch_size"])
    card = model_card(description, dataset, parameter_count(networks[0]))

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".nnunet_export_", dir=parent)
    try:
        write_package(tmp, compiled, description, card)
        move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{out}: {len(folds)} fold(s) of {trainer}__{description['plans_identifier']}__{configuration_name}, "
          f"TorchScript by {method} (max |compiled - eager| {worst:.2g})", file=sys.stderr)
    return out


def main() -> int:
    fix_hash_seed()
    args = parse_args()
    torch.set_num_threads(args.threads)
    try:
        export(args)
    except (ResultsError, UnsupportedArchitecture) as error:
        print(f"nnunet_export: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
