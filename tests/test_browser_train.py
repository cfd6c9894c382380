"""The training page in headless Chromium against a real server: short runs on a real MNIST subset (the user's-own-data
path), watched live, reconnected to, stopped and resumed, started twice at once, and opened on the map."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

import pytest

from bench.browser import wait_map_drawn
from bench.server import start_app, stop_app
from vae import jobs
from vae.runs import CONFIG, TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.browser]

MAP_STATE = """() => {
  const gd = document.querySelector('.st-key-train_map .js-plotly-plot');
  const caption = [...document.querySelectorAll('p')].find(p => p.innerText.includes('test images at step'));
  if (!gd || !gd._fullData || !caption) return null;  // _fullData: the arrays as drawn (data may be packed)
  const xs = gd._fullData.map(t => Array.from(t.x || []).slice(0, 3));
  return {step: caption.innerText.match(/step ([\\d,]+)/)[1], xs};
}"""
CURVE_POINTS = """() => {
  const gd = document.querySelector('.st-key-train_curve .js-plotly-plot');
  return gd && gd._fullData ? gd._fullData[0].x.length : 0;
}"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def train_url(checkpoints_dir, data_dir, runs):
    """A server whose runs go to a fresh folder."""
    proc, url = start_app(
        {"VAE_CHECKPOINTS": str(checkpoints_dir), "VAE_DATA_DIR": str(data_dir), "VAE_RUNS": str(runs)}
    )
    yield url
    stop_app(proc)


@pytest.fixture(autouse=True)
def no_run_left_training(runs):
    """Each test ends with no run training, whatever happened in it."""
    yield
    if jobs.stop(runs) is not None:
        deadline = time.monotonic() + 60
        while jobs.current_job(runs).alive and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a process of its own


def run_folders(runs) -> set[str]:
    return {p.name for p in runs.iterdir() if p.is_dir()}


def open_train_page(page, url: str) -> None:
    page.goto(f"{url}/train")
    page.get_by_role("button", name="Start").wait_for(timeout=120_000)


def set_up_run(page, data: str, epochs: int) -> None:
    """Settings: the user's own dataset at `data`, `epochs` epochs, the rest as the page proposes."""
    main = page.locator("[data-testid='stMain']")
    main.get_by_label("Dataset").click()
    page.get_by_role("option", name="Your own data (a path)").click()
    path = page.get_by_role("textbox", name="Path of your dataset")
    path.fill(data)
    path.press("Enter")
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('input')].some(i => i.ariaLabel === 'Epochs' && i.value === n)",
        arg=str(epochs),
    )


def main(page):
    """The page's own area (the toolbar also has a Stop button while a script runs)."""
    return page.locator('[data-testid="stMain"]')


def training_header(page):
    return page.get_by_role("heading", name=re.compile(r"^Training digits-vae-z2-"))


def wait_epoch_at_least(page, epoch: int) -> int:
    """Wait until the progress line says epoch `epoch` or later; returns the epoch it says."""
    handle = page.wait_for_function(
        """(least) => {
          const m = document.body.innerText.match(/Epoch (\\d+) of \\d+ · step/);
          return m && +m[1] >= least ? +m[1] : null;
        }""",
        arg=epoch,
        timeout=120_000,
    )
    return handle.json_value()


def no_error_on(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_short_run_shows_its_curve_and_map_as_it_trains_then_opens_on_the_map(page, train_url, digits_npz, runs):
    open_train_page(page, train_url)
    set_up_run(page, str(digits_npz), epochs=60)
    page.get_by_role("button", name="Start").click()
    training_header(page).wait_for(timeout=120_000)
    name = training_header(page).inner_text().removeprefix("Training ").strip()
    started = TrainConfig.from_dict(json.loads((runs / name / CONFIG).read_text()))  # what the run was started with
    assert started == replace(jobs.DEFAULTS, dataset=str(digits_npz.resolve()), epochs=60)

    first = page.wait_for_function(MAP_STATE, timeout=120_000).json_value()
    points = page.evaluate(CURVE_POINTS)
    moved = (  # a later step's map, drawn: its points moved as the clusters form
        f"(before) => {{ const now = ({MAP_STATE})();"
        " return now && now.step !== before.step && JSON.stringify(now.xs) !== JSON.stringify(before.xs); }"
    )
    page.wait_for_function(moved, arg=first, timeout=120_000)
    page.wait_for_function(f"() => ({CURVE_POINTS})() > {points}", timeout=120_000)  # the curve grew

    page.get_by_text("Trained: test −ELBO").wait_for(timeout=180_000)
    no_error_on(page)
    page.get_by_role("link", name="Open on the map").click()
    page.wait_for_url(re.compile(rf"/map\?model={re.escape(name)}$"), timeout=60_000)
    wait_map_drawn(page, min_points=500)  # the run's 500 test images
    no_error_on(page)


def test_a_reload_and_a_second_tab_reconnect_to_the_run_and_a_second_start_is_told_it_runs(
    browser, page, train_url, digits_npz, runs
):
    open_train_page(page, train_url)
    set_up_run(page, str(digits_npz), epochs=400)
    before = run_folders(runs)
    page.get_by_role("button", name="Start").click()
    training_header(page).wait_for(timeout=120_000)
    epoch = wait_epoch_at_least(page, 2)

    page.reload()
    training_header(page).wait_for(timeout=120_000)
    assert wait_epoch_at_least(page, epoch + 1) > epoch  # the reloaded page follows the same run on

    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_train_page(other, train_url)
    training_header(other).wait_for(timeout=120_000)
    set_up_run(other, str(digits_npz), epochs=400)
    assert training_header(other).inner_text() == training_header(page).inner_text()
    other.get_by_role("button", name="Start").click()
    other.get_by_text(
        re.compile(r"A run is already training \(digits-vae-z2-.*one run at a time and queues none")
    ).wait_for()
    assert len(run_folders(runs) - before) == 1  # the run, and no other

    main(page).get_by_role("button", name="Stop").click()  # not the toolbar's Stop of a running script
    page.get_by_text(re.compile(r"Training digits-vae-z2-.* stopped; epoch \d+ of 400 is kept")).wait_for()
    set_up_run(page, str(digits_npz), epochs=400)  # the reload began a new session, with the page's defaults
    before = run_folders(runs)
    for tab in (page, other):  # two Starts at once, both tabs idle
        tab.get_by_role("button", name="Start").click(no_wait_after=True)
    warning = re.compile(r"A run is already training")
    training_header(page).wait_for(timeout=120_000)
    training_header(other).wait_for(timeout=120_000)
    told = [tab.get_by_text(warning).count() for tab in (page, other)]
    assert sorted(told) == [0, 1]  # one tab started the run, the other was told
    assert len(run_folders(runs) - before) == 1
    no_error_on(page)
    no_error_on(other)
    other.context.close()


def test_stop_keeps_the_last_complete_epoch_and_resume_goes_on(page, train_url, digits_npz):
    open_train_page(page, train_url)
    set_up_run(page, str(digits_npz), epochs=300)
    page.get_by_role("button", name="Start").click()
    training_header(page).wait_for(timeout=120_000)
    wait_epoch_at_least(page, 3)
    main(page).get_by_role("button", name="Stop").click()  # not the toolbar's Stop of a running script
    stopped = page.get_by_text(re.compile(r"stopped; epoch (\d+) of 300 is kept"))
    stopped.wait_for(timeout=60_000)
    kept = int(re.search(r"epoch (\d+) of", stopped.inner_text()).group(1))
    assert kept >= 2

    page.get_by_role("button", name="Resume").first.click()
    training_header(page).wait_for(timeout=120_000)
    assert wait_epoch_at_least(page, kept + 2) >= kept + 2  # it went on from the kept epoch
    no_error_on(page)


def test_bad_settings_get_one_sentence_each_and_start_nothing(page, train_url, runs):
    open_train_page(page, train_url)
    before = run_folders(runs)
    epochs = page.get_by_role("spinbutton", name="Epochs")
    assert (epochs.get_attribute("min"), epochs.get_attribute("max")) == ("1", "1000")  # the setting's bounds
    epochs.fill("0")
    epochs.press("Enter")  # refused by the input itself, in the setting's bounds
    page.get_by_text("Please enter a value between 1 and 1000").wait_for(timeout=60_000)
    box = page.get_by_role("spinbutton", name="Learning rate")
    box.fill("0")
    box.press("Enter")
    page.get_by_role("textbox", name="Hidden widths").fill("256, wide")
    page.get_by_role("textbox", name="Hidden widths").press("Enter")
    page.get_by_role("button", name="Start").click()
    errors = page.locator("[data-testid='stAlertContentError'] [data-testid='stMarkdownContainer']")
    errors.nth(1).wait_for(timeout=60_000)
    assert sorted(errors.all_inner_texts()) == [
        "Hidden widths must be whole numbers separated by commas, e.g. 256, 128.",
        "Learning rate must be a positive number of at most 1, not 0.0.",
    ]
    assert run_folders(runs) == before
    no_error_on(page)
