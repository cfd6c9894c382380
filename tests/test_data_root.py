"""Where the datasets and the browser are found, and the one sentence when they are not; no network, no browser."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import pytest

from bench.server import ChromiumMissingError, find_chromium, launch_chromium
from vae.data import DatasetMissingError, data_dir, load_split, missing_message, on_disk

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def test_the_data_root_is_the_argument_else_vae_data_dir_else_dot_data(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    assert data_dir() == Path("data")
    monkeypatch.setenv("VAE_DATA_DIR", "")
    assert data_dir() == Path("data")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_the_default_root_is_data_under_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in FILES:
        (raw / f).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert on_disk("mnist") and not on_disk("fashion-mnist")


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_the_missing_data_sentence_names_the_variable_the_default_and_the_four_files(tmp_path, name, folder):
    message = missing_message(name, tmp_path, URLError("offline"))
    assert str(tmp_path / folder / "raw") in message and f"{folder}/raw/" in message
    assert "VAE_DATA_DIR" in message and "./data" in message and "(URLError)" in message
    assert all(f in message for f in FILES)
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message


def test_offline_with_no_data_loading_is_that_one_sentence(monkeypatch, tmp_path):
    """VAE_DATA_DIR names an empty folder and every download fails, as on a machine without network."""
    import torchvision.datasets.mnist

    tried: list[str] = []

    def offline(url, *args, **kwargs):
        tried.append(url)
        raise URLError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetMissingError) as err:
        load_split("fashion-mnist", train=False)
    assert tried, "torchvision was not asked to download"
    assert str(err.value) == missing_message("fashion-mnist", tmp_path, RuntimeError())
    assert not on_disk("fashion-mnist")


def _executable(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare_path(monkeypatch, tmp_path) -> Path:
    """A PATH of one empty folder and no $CHROMIUM; returns that folder."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("CHROMIUM", raising=False)
    return folder


def test_chromium_is_the_variable_first(monkeypatch, tmp_path, bare_path):
    _executable(bare_path, "chromium")
    mine = _executable(tmp_path / "opt", "my-chrome")
    monkeypatch.setenv("CHROMIUM", str(mine))
    assert find_chromium(bundled=str(_executable(tmp_path, "bundled"))) == str(mine)


def test_a_chromium_variable_that_names_nothing_fails_in_one_sentence(monkeypatch, tmp_path, bare_path):
    _executable(bare_path, "chromium")
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(ChromiumMissingError, match=r"^CHROMIUM is set to .*nowhere, which is not an executable"):
        find_chromium()


def test_chromium_on_the_path_comes_before_playwrights_own(tmp_path, bare_path):
    bundled = str(_executable(tmp_path, "bundled"))
    chrome = _executable(bare_path, "google-chrome")
    assert find_chromium(bundled) == str(chrome)
    browser = _executable(bare_path, "chromium-browser")
    assert find_chromium(bundled) == str(browser)
    chromium = _executable(bare_path, "chromium")
    assert find_chromium(bundled) == str(chromium)


def test_playwrights_own_chromium_is_the_last_resort(tmp_path, bare_path):
    bundled = _executable(tmp_path, "bundled")
    assert find_chromium(str(bundled)) == str(bundled)


def test_no_chromium_anywhere_is_one_sentence_naming_the_three_ways_to_get_one(tmp_path, bare_path):
    for bundled in (None, str(tmp_path / "not-installed" / "chrome")):
        with pytest.raises(ChromiumMissingError) as err:
            find_chromium(bundled)
        message = str(err.value)
        assert "CHROMIUM" in message and "apt-get install chromium" in message
        assert "python -m playwright install chromium" in message and message.count(". ") == 0


def test_the_browser_is_launched_from_the_chromium_found(tmp_path, bare_path):
    chromium = _executable(bare_path, "chromium")
    launched: list[dict] = []

    def launch(**options):
        launched.append(options)
        return "browser"

    playwright = SimpleNamespace(chromium=SimpleNamespace(executable_path=str(tmp_path / "absent"), launch=launch))
    assert launch_chromium(playwright) == "browser"
    assert launched[0]["executable_path"] == str(chromium) and launched[0]["headless"] is True
