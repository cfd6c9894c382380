"""Text from outside (the address, a file name) inside Streamlit's Markdown: shown as typed, never as Markdown."""

from __future__ import annotations

import re

_LONGEST = 80  # characters of an outside value that a sentence quotes


def verbatim(text: str) -> str:
    """`text` as a Markdown code span, so no link, image, icon, colour or emphasis in it is rendered; newlines
    become spaces and a long value is cut to its first 80 characters and an ellipsis.

    The fence is one backtick longer than the longest run of backticks inside, as CommonMark requires.
    """
    text = " ".join(str(text).split())
    if len(text) > _LONGEST:
        text = text[: _LONGEST - 1] + "…"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text else "(empty)"
