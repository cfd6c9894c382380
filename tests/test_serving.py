"""The server's policy (vae.serving): personal by default, shared with limits, every bad setting one sentence."""

from __future__ import annotations

import numpy as np
import pytest

from vae.serving import SHARED_DEFAULTS, PolicyError, ServerPolicy, own_datasets, server_policy


def test_a_server_is_personal_and_unlimited_unless_told_otherwise():
    policy = server_policy({})
    assert policy == ServerPolicy()
    assert policy.paths_from_browser and not policy.owned_runs and policy.training
    assert policy.size_problem(10**9, 10**6) is None


def test_shared_mode_takes_no_paths_owns_runs_and_has_default_limits():
    policy = server_policy({"VAE_MODE": "shared"})
    assert not policy.paths_from_browser and policy.owned_runs
    assert (policy.max_parameters, policy.max_epochs, policy.runs_per_session, policy.max_runs) == tuple(
        SHARED_DEFAULTS.values()
    )


def test_each_limit_has_its_own_variable():
    policy = server_policy(
        {"VAE_MODE": "shared", "VAE_TRAINING": "off", "VAE_MAX_PARAMETERS": "1000", "VAE_MAX_EPOCHS": "3"}
    )
    assert not policy.training
    assert policy.size_problem(1001, 1) == (
        "This network has 1,001 weights; this server trains at most 1,000: choose fewer or narrower layers."
    )
    assert policy.size_problem(1000, 4) == "This server trains at most 3 epochs a run, not 4."
    assert policy.size_problem(1000, 3) is None
    assert "training is off" in policy.describe()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"VAE_MODE": "public"}, "VAE_MODE must be personal or shared, not 'public'."),
        ({"VAE_TRAINING": "maybe"}, "VAE_TRAINING must be on or off, not 'maybe'."),
        ({"VAE_MAX_EPOCHS": "ten"}, "VAE_MAX_EPOCHS must be a whole number of at least 1, not 'ten'."),
        ({"VAE_MAX_RUNS": "0"}, "VAE_MAX_RUNS must be a whole number of at least 1, not 0."),
    ],
)
def test_a_bad_setting_is_one_sentence(env, message):
    with pytest.raises(PolicyError) as err:
        server_policy(env)
    assert str(err.value) == message


def test_own_datasets_are_the_npz_files_and_folders_under_the_root_by_name_links_left_out(tmp_path):
    np.savez(tmp_path / "shapes.npz", x=np.zeros(1))
    (tmp_path / "strokes").mkdir()
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / "secret.npz").symlink_to(tmp_path / "shapes.npz")
    assert own_datasets(tmp_path) == {"shapes": tmp_path / "shapes.npz", "strokes": tmp_path / "strokes"}
    assert own_datasets(tmp_path / "absent") == {} and own_datasets(None) == {}


def _overview(monkeypatch, **env):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_overview_page_says_which_mode_the_server_is_in(monkeypatch):
    at = _overview(monkeypatch, VAE_MODE="shared", VAE_MAX_EPOCHS="5")
    assert any(c.value.startswith("Shared mode: each visitor's runs are their own") for c in at.caption)
    assert any("5 epochs" in c.value for c in at.caption)
    at = _overview(monkeypatch, VAE_MODE="personal")
    assert any(c.value.startswith("Personal mode") for c in at.caption)


def test_a_bad_mode_setting_is_one_line_and_the_server_runs_shared_without_training(monkeypatch):
    at = _overview(monkeypatch, VAE_MODE="open")
    assert [e.value for e in at.error] == [
        "VAE_MODE must be personal or shared, not 'open'. "
        "Until it is mended this server runs shared, with training off."
    ]
    assert any(c.value.startswith("Shared mode: training is off") for c in at.caption)


def test_a_shared_servers_runs_get_a_quarter_of_a_cpu_unless_told_otherwise():
    assert server_policy({}).train_cpu_share == 1.0
    assert server_policy({"VAE_MODE": "shared"}).train_cpu_share == 0.25
    assert server_policy({"VAE_MODE": "shared", "VAE_TRAIN_CPU_SHARE": "0.5"}).train_cpu_share == 0.5
    assert "25% of a CPU per run" in server_policy({"VAE_MODE": "shared"}).describe()
    for bad in ("0", "1.5", "half", "nan"):
        with pytest.raises(PolicyError, match=r"^VAE_TRAIN_CPU_SHARE must be a number above 0 and at most 1, not "):
            server_policy({"VAE_TRAIN_CPU_SHARE": bad})
