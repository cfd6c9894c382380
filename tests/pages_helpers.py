"""What the AppTest and training tests share: a page of the app opened with preset state, and waiting on a condition
that a process of its own makes true. (The `real_models` fixture is in conftest.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


def open_page(page: str, **state) -> AppTest:
    """Run app.py on `page` with session state preset (e.g. picker_model="mnist-vae-z16"), with no exception."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll `condition` until it holds (a training process of its own makes it so); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)  # polling a process of its own
