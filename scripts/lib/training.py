"""What every training script shares: a reproducible start and the export of a model package."""
import argparse
import json
import os
import sys

import torch

from unet3d import parameter_count, sha256_file


def reproducible_parser(description: str, data_help: str) -> argparse.ArgumentParser:
    """The common options (--data, --out, --seed, --threads), after making TorchScript output byte-stable:
    it writes constants in set order, which follows Python's string-hash seed, so the process is
    re-executed with PYTHONHASHSEED=0 when it is not."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--out", required=True, help="model package folder; model.pt and training.json go here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    return parser


def seed_everything(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)


def export_package(model: torch.nn.Module, out: str, summary: dict) -> str:
    """Writes OUT/model.pt (TorchScript) and OUT/training.json (SUMMARY plus torch version, parameters
    and sha256); `medpipe model seal OUT` then records the golden output in the manifest."""
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.pt")
    torch.jit.script(model.eval()).save(model_path)
    summary = dict(summary, torch=torch.__version__, parameters=parameter_count(model), sha256=sha256_file(model_path))
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return model_path
