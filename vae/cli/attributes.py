"""`python -m vae.attributes [--spearman]`: measure the attributes of MNIST's and Fashion-MNIST's test splits into
checkpoints/attributes/, or (--spearman) print how monotonically each shipped VAE's decoded thickness follows its
thickness vector."""

from __future__ import annotations

import sys

from vae.attributes import (
    ATTRIBUTES,
    AttributeFileError,
    attribute_vector,
    attributes_path,
    load_attributes,
    rank_correlation,
    write_shipped,
)
from vae.checkpoint import CheckpointError, load_atlas, load_model, shipped_root
from vae.cli import ArgumentParser
from vae.data import DATASETS, DatasetMissingError


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m vae.attributes",
        description="Measure area, stroke thickness, slant, width and height of every MNIST and Fashion-MNIST test "
        "image into checkpoints/attributes/{dataset}.npz; with --spearman, print instead the Spearman ρ between the "
        "step along each shipped VAE's attribute vector (±2σ) and the attribute measured on the decoded images.",
        epilog="Example: python -m vae.attributes --spearman",
    )
    p.add_argument("--spearman", action="store_true", help="print the ρ table of the shipped VAEs; write nothing")
    p.add_argument("--attribute", choices=ATTRIBUTES, default="thickness", help="the vector's attribute (--spearman)")
    return p


def spearman_table(attribute: str = "thickness") -> list[tuple[str, float, list[float]]]:
    """(model, ρ, measured values along the vector) for each shipped VAE."""
    rows = []
    for dataset in DATASETS:
        values = load_attributes(attributes_path(dataset), dataset)[attribute]
        for z in (2, 16):
            name = f"{dataset}-vae-z{z}"
            model, _ = load_model(shipped_root() / name)
            codes = load_atlas(shipped_root() / name)["mu"]
            rho, along = rank_correlation(model, codes, attribute_vector(codes, values), attribute)
            rows.append((name, rho, [float(v) for v in along]))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.spearman:
            print(f"| model | Spearman ρ ({args.attribute}, 21 steps over ±2σ) | first → last measured |")
            print("|---|---|---|")
            for name, rho, along in spearman_table(args.attribute):
                print(f"| `{name}` | {rho:.3f} | {along[0]:.2f} → {along[-1]:.2f} |")
            return 0
        for dataset, path in write_shipped().items():
            print(f"{dataset}: {path} ({path.stat().st_size:,} bytes)")
    except (AttributeFileError, CheckpointError, DatasetMissingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
