"""What every script that trains or exports a model shares: a reproducible start and the export of a
model package."""
import argparse
import hashlib
import json
import os
import sys

import torch


def fix_hash_seed() -> None:
    """Makes TorchScript output byte-stable: it writes constants in set order, which follows Python's
    string-hash seed, so the process re-executes itself with PYTHONHASHSEED=0 when that is not set."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reproducible_parser(description: str, data_help: str) -> argparse.ArgumentParser:
    """The common options (--data, --out, --seed, --threads), in a process with a fixed hash seed."""
    fix_hash_seed()
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
