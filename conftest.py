"""Workspace-wide pytest setup: opt-in slow tests, and doctests in Markdown pages.

Slow tests (``@pytest.mark.slow``) are skipped unless ``--run-slow`` is given or the environment
sets ``IMAP_RUN_SLOW=1``; ``.ci/run`` runs them.

``--doctest-glob=*.md`` (see ``pyproject.toml``) runs the ``>>>`` examples in the docs. The
stdlib doctest parser knows nothing of Markdown and would read a closing code fence as part of
the expected output, so examples are cut at the first fence line here.
"""

from __future__ import annotations

import doctest
import os
import re

import pytest

_RUN_SLOW_ENV = "IMAP_RUN_SLOW"
_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help=f"run the tests marked slow (also enabled by {_RUN_SLOW_ENV}=1)",
    )


def _run_slow(config: pytest.Config) -> bool:
    if config.getoption("--run-slow"):
        return True
    return os.environ.get(_RUN_SLOW_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_report_header(config: pytest.Config) -> str:
    state = "run" if _run_slow(config) else f"skipped (--run-slow or {_RUN_SLOW_ENV}=1 runs them)"
    return f"slow tests: {state}"


def _cut_at_fence(text: str | None) -> str | None:
    if text is None:
        return None
    fence = _FENCE_LINE.search(text)
    return text if fence is None else text[: fence.start()]


def _end_examples_at_fences(test: doctest.DocTest) -> None:
    for example in test.examples:
        example.want = _cut_at_fence(example.want) or ""
        example.exc_msg = _cut_at_fence(example.exc_msg)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = _run_slow(config)
    skip_slow = pytest.mark.skip(reason=f"slow: pass --run-slow or set {_RUN_SLOW_ENV}=1")
    for item in items:
        if not run_slow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)
        dtest = getattr(item, "dtest", None)
        if item.path.suffix == ".md" and isinstance(dtest, doctest.DocTest):
            _end_examples_at_fences(dtest)
