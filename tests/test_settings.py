"""One training contract: every setting is declared once, on TrainConfig or ModelConfig (vae.settings), and the
command line's flags, the config.json of a run and the training page's form all come from that declaration."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae import jobs, settings
from vae.cli import train as train_cli
from vae.models import ModelConfig
from vae.runs import TrainConfig
from vae.settings import ConfigError, setting

ROOT = Path(__file__).resolve().parents[1]
SETTING_FLAGS = (
    "--dataset --model --arch --latent-dim --hidden --channels --activation --epochs --batch-size --lr --beta"
)
FLAGS = [*SETTING_FLAGS.split(" "), "--seed", "--schedule", "--weight-decay", "--ema", "--output-bias"]
RUN_FLAGS = ["--config", "--data-dir", "--device", "--out", "--resume", "--overwrite", "--iwae-k", "--quiet"]
RUN_FLAGS += ["--threads", "--nice", "--cpu-share", "--live"]


@dataclasses.dataclass(frozen=True)
class WithWarmup(TrainConfig):
    """TrainConfig with one more setting, declared as any other: the only place it is named."""

    warmup_epochs: int = setting(3, "epochs of linear learning-rate warm-up", minimum=0, maximum=20)


@dataclasses.dataclass(frozen=True)
class WithDropout(ModelConfig):
    dropout: float = setting(0.1, "dropout between layers", minimum=0.0, maximum=1.0, below=True)


@dataclasses.dataclass(frozen=True)
class WithDropoutModel(TrainConfig):
    model: WithDropout = settings.nested(WithDropout)


def _flags(parser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_the_command_line_has_the_documented_flags_and_no_others():
    assert _flags(train_cli.parser()) == {"-h", "--help", *FLAGS, *RUN_FLAGS}


def test_a_setting_added_to_the_training_config_appears_in_the_parser_the_form_and_its_checks():
    parser = train_cli.parser(WithWarmup)
    assert "--warmup-epochs" in _flags(parser)
    args = parser.parse_args(["--warmup-epochs", "5", "--epochs", "9"])
    assert train_cli.config_from_args(args, WithWarmup) == WithWarmup(warmup_epochs=5, epochs=9)
    assert train_cli.config_from_args(parser.parse_args([]), WithWarmup).warmup_epochs == 3
    [spec] = [f for f in settings.form_fields(WithWarmup()) if f.name == "warmup_epochs"]
    assert (spec.label, spec.kind, spec.default, spec.setting.maximum) == ("Warmup epochs", "int", 3, 20)
    with pytest.raises(ConfigError, match="warmup_epochs must be a whole number of at least 0 and at most 20, not 21"):
        WithWarmup(warmup_epochs=21)
    assert WithWarmup.from_dict({**WithWarmup().to_dict(), "warmup_epochs": 4}).warmup_epochs == 4


def test_a_setting_added_to_the_model_config_appears_in_the_parser_and_the_form():
    parser = train_cli.parser(WithDropoutModel)
    assert "--dropout" in _flags(parser)
    config = train_cli.config_from_args(parser.parse_args(["--dropout", "0.25", "--latent-dim", "3"]), WithDropoutModel)
    assert (config.model.dropout, config.model.latent_dim) == (0.25, 3)
    paths = [f.path for f in settings.form_fields(WithDropoutModel())]
    assert "model.dropout" in paths and paths.index("model.dropout") < paths.index("epochs")
    with pytest.raises(SystemExit):
        train_cli.config_from_args(parser.parse_args(["--dropout", "x"]), WithDropoutModel)


def test_the_form_shows_every_setting_with_its_bounds_and_the_page_defaults():
    fields = {f.path: f for f in settings.form_fields(jobs.DEFAULTS)}
    assert {f.flag for f in fields.values()} == set(FLAGS)
    assert fields["model.hidden"].default == jobs.DEFAULTS.model.hidden and fields["epochs"].default == 4
    assert fields["model.hidden"].conditions == (("model.arch", "mlp"),)
    assert fields["beta"].conditions == (("model.kind", "vae"),)
    assert fields["lr"].bounds() == "a positive number of at most 1"
    problem = "lr must be a positive number of at most 1, not 0.0."
    assert (
        settings.in_words(problem, list(fields.values()))
        == "Learning rate must be a positive number of at most 1, not 0.0."
    )
    assert settings.in_words("the model would have 9 parameters.", []) == "The model would have 9 parameters."


def test_the_training_page_renders_the_generated_form_with_its_bounds(monkeypatch, tmp_path, checkpoints_dir):
    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    epochs = at.number_input(key="train_epochs")
    assert (epochs.label, epochs.value, epochs.min, epochs.max) == ("Epochs", 4, 1, 1000)
    assert "at most 1000" in epochs.help
    assert at.number_input(key="train_model_latent_dim").max == 64
    assert at.text_input(key="train_model_hidden").value == "256, 128"
    assert at.expander[0].label == "More settings"
    at.segmented_control(key="train_model_arch").set_value("conv").run()
    assert [(t.key, t.value) for t in at.text_input] == [("train_model_channels", "32, 64")]  # not the widths


def test_the_page_says_each_bad_setting_in_its_own_words():
    """What Start shows (AppTest cannot click Start on /train: its runs there always rerun through app.py first;
    tests/test_browser_train.py clicks it)."""
    fields = settings.form_fields(jobs.DEFAULTS)
    with pytest.raises(ConfigError) as caught:
        settings.replace_settings(jobs.DEFAULTS, {"model.hidden": (256, 5000), "lr": 0.0, "model.latent_dim": 2})
    assert [settings.in_words(p, fields) for p in caught.value.problems] == [
        "Hidden widths must be 1 to 4 whole numbers of at least 1 and at most 4096, not (256, 5000).",
        "Learning rate must be a positive number of at most 1, not 0.0.",
    ]


def _imports_at_import_time(path: Path) -> set[str]:
    """Modules a file imports when imported (not under `if __name__ == "__main__":` or inside a function)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def test_no_library_module_or_page_imports_a_command_line():
    files = [p for p in (ROOT / "vae").glob("*.py")] + list((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]
    for path in files:
        assert not [m for m in _imports_at_import_time(path) if m.startswith("vae.cli")], path
    for name in ("train", "zoo", "atlas", "anomaly", "evaluate"):  # each command still runs as python -m vae.NAME
        assert f"from vae.cli.{name} import main" in (ROOT / "vae" / f"{name}.py").read_text()
