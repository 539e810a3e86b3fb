""""Did you mean ...?" for a mistyped model name, option or config key: one wording everywhere."""

from __future__ import annotations

import difflib
from typing import Iterable


def close_matches(word: str, choices: Iterable[str], count: int = 3) -> list[str]:
    """The choices closest to ``word`` (difflib's ratio, at least 0.6; case ignored), best first."""
    by_lower = {choice.lower(): choice for choice in choices}
    return [by_lower[match] for match in difflib.get_close_matches(word.lower(), list(by_lower), n=count)]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'telea'?)"`` for the closest choices to ``word``, or "" when none is close.

    Append it to an error message right after the unknown name, e.g.
    ``unknown model 'tela' (did you mean 'telea'?); available models: ...``.
    """
    matches = close_matches(word, choices)
    if not matches:
        return ""
    return f" (did you mean {' or '.join(map(repr, matches))}?)"
