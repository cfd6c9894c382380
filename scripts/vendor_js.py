"""Copy the browser files the app serves out of their npm packages, pinned by version and SHA-256.

`python scripts/vendor_js.py` runs `npm pack NAME@VERSION` for each pinned package in a temporary folder, checks
every listed file against its pinned SHA-256 and copies it into the repository (a file already equal to its pin
is left alone). `python scripts/vendor_js.py --check` only checks the repository's files against the pins,
offline. To move to another version, change its version and hashes here and run the script.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TFJS = "4.22.0"


@dataclass(frozen=True)
class Pin:
    package: str  # npm package name
    version: str
    file: str  # path inside the package
    dest: str  # path in this repository
    sha256: str


PINS = (
    # The components' Plotly (MIT): the gl2d partial bundle, which pages/webmodel serves.
    Pin(
        "plotly.js",
        "4.1.1",
        "dist/plotly-gl2d.min.js",
        "pages/webmodel/plotly-gl2d.min.js",
        "3db1f8ca5c906266bd6ab2eeeef9e3c1e3f45c5844529657c3525ec2ad7c77e4",
    ),
    # TensorFlow.js (Apache-2.0): the core and its WebAssembly backend, which run the models in the browser
    # (pages/webmodel/vae_model.js). The backend picks the SIMD build, or the plain one where SIMD is missing.
    Pin(
        "@tensorflow/tfjs-core",
        TFJS,
        "dist/tf-core.es2017.min.js",
        "pages/webmodel/tf-core.es2017.min.js",
        "c55367325aa628ed685164d5c4210892e31c6d2d0e8c163a827b15ad330d1eba",
    ),
    Pin(
        "@tensorflow/tfjs-backend-wasm",
        TFJS,
        "dist/tf-backend-wasm.es2017.min.js",
        "pages/webmodel/tf-backend-wasm.es2017.min.js",
        "bdd8c3c1fb0b37601bc2a122efa20b8d78e2936d104b03a44591be4188c63f65",
    ),
    Pin(
        "@tensorflow/tfjs-backend-wasm",
        TFJS,
        "dist/tfjs-backend-wasm-simd.wasm",
        "pages/webmodel/tfjs-backend-wasm-simd.wasm",
        "77ebb28a6d34f371dbbf2086b7f2de8994acd8ea5a3cf1fa24d2c26c840cac7b",
    ),
    Pin(
        "@tensorflow/tfjs-backend-wasm",
        TFJS,
        "dist/tfjs-backend-wasm.wasm",
        "pages/webmodel/tfjs-backend-wasm.wasm",
        "70a5d516060464e5269f01c74bac1772d6b8ab6cb612acf16b5cdaf61f78d892",
    ),
)


class VendorError(RuntimeError):
    """npm failed, or a package's file is missing or differs from its pinned hash."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(package: str, version: str, files: list[str]) -> dict[str, bytes]:
    """The bytes of `files` (paths inside the package) of package@version, fetched with `npm pack`."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", tmp],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise VendorError(f"`npm pack {package}@{version}` failed: {done.stderr.strip()[-500:]}")
        with tarfile.open(tarballs[0]) as tar:
            found = {}
            for name in files:
                try:
                    found[name] = tar.extractfile(f"package/{name}").read()
                except (KeyError, AttributeError):
                    raise VendorError(f"{package}@{version} has no file {name}.") from None
            return found


def check(pins: tuple[Pin, ...] = PINS) -> list[str]:
    """One sentence for each vendored file that is missing or differs from its pin (none when all match)."""
    problems = []
    for pin in pins:
        path = ROOT / pin.dest
        if not path.is_file():
            problems.append(f"{pin.dest} is missing; run `python scripts/vendor_js.py`.")
        elif sha256(path.read_bytes()) != pin.sha256:
            problems.append(f"{pin.dest} differs from {pin.package}@{pin.version} {pin.file} (its pinned SHA-256).")
    return problems


def vendor(pins: tuple[Pin, ...] = PINS) -> None:
    """Fetch, check and copy every pinned file whose copy in the repository differs from its pin."""
    todo = [pin for pin in pins if not (ROOT / pin.dest).is_file() or check((pin,))]
    for package, version in dict.fromkeys((p.package, p.version) for p in todo):
        group = [p for p in todo if (p.package, p.version) == (package, version)]
        files = npm_pack(package, version, [p.file for p in group])
        for pin in group:
            data = files[pin.file]
            if sha256(data) != pin.sha256:
                raise VendorError(
                    f"{package}@{version} {pin.file} has SHA-256 {sha256(data)}, not the pinned "
                    f"{pin.sha256}; none of its files were copied."
                )
        for pin in group:
            dest = ROOT / pin.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            tmp.write_bytes(files[pin.file])
            tmp.replace(dest)
            print(f"{pin.dest} <- {package}@{version} {pin.file}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored files against the pins")
    args = parser.parse_args(argv)
    try:
        if not args.check:
            vendor()
        problems = check()
    except VendorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"all {len(PINS)} vendored files match their pins")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
