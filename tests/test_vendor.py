"""The vendored browser files (scripts/vendor_js.py): each one is its npm package's file, by pinned SHA-256."""

import shutil

from scripts import vendor_js


def test_every_vendored_file_matches_its_pin():
    assert vendor_js.check() == []
    assert {pin.dest for pin in vendor_js.PINS} >= {
        "pages/webmodel/plotly-gl2d.min.js",
        "pages/webmodel/tf-core.es2017.min.js",
    }


def test_a_changed_or_missing_vendored_file_is_named(tmp_path, monkeypatch):
    for pin in vendor_js.PINS:
        (tmp_path / pin.dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(vendor_js.ROOT / pin.dest, tmp_path / pin.dest)
    monkeypatch.setattr(vendor_js, "ROOT", tmp_path)
    changed, missing = vendor_js.PINS[1].dest, vendor_js.PINS[2].dest
    (tmp_path / changed).write_text("/* edited by hand */")
    (tmp_path / missing).unlink()
    assert vendor_js.check() == [
        f"{changed} differs from {vendor_js.PINS[1].package}@{vendor_js.TFJS} {vendor_js.PINS[1].file} "
        "(its pinned SHA-256).",
        f"{missing} is missing; run `python scripts/vendor_js.py`.",
    ]
    assert vendor_js.main(["--check"]) == 1
