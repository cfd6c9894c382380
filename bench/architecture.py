"""Test quality per CPU second of the MLP and conv architectures, trained side by side.

    python bench/architecture.py --dataset mnist --latent-dim 16 --mlp-epochs 50 --conv-epochs 12

Both runs start together, one thread each, so they share the machine's load equally. Prints each run's
training wall time and test-split negative ELBO / IWAE estimate (from its card.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def launch(arch: str, epochs: int, args: argparse.Namespace, out: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "vae.train",
        "--dataset",
        args.dataset,
        "--latent-dim",
        str(args.latent_dim),
        "--arch",
        arch,
        "--epochs",
        str(epochs),
        "--lr",
        str(args.lr),
        "--iwae-k",
        str(args.iwae_k),
        "--out",
        str(out / arch),
        "--quiet",
    ]
    return subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--mlp-epochs", type=int, default=50)
    p.add_argument("--conv-epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--iwae-k", type=int, default=20)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        runs = {"mlp": launch("mlp", args.mlp_epochs, args, out), "conv": launch("conv", args.conv_epochs, args, out)}
        if any(proc.wait() != 0 for proc in runs.values()):
            return 1
        rows = {}
        for arch in runs:
            card = json.loads((out / arch / "card.json").read_text())
            rows[arch] = {
                "epochs": card["training"]["epochs"],
                "wall_s": card["training"]["wall_time_s"],
                **{k: card["metrics"][k] for k in ("neg_elbo", "iwae_nll")},
            }
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'arch':<6}{'epochs':>8}{'wall s':>9}{'-ELBO':>9}{'IWAE':>9}")
        for arch, r in rows.items():
            print(f"{arch:<6}{r['epochs']:>8}{r['wall_s']:>9.0f}{r['neg_elbo']:>9.2f}{r['iwae_nll']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
