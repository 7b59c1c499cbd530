"""Node processes take SIGINT (the graceful stop) even when their parent ignores it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from crawler_rl.stopping import child_setup

REPORT = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """This process ignores SIGINT, as a background job of a non-interactive shell does."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(("preexec", "takes_sigint"), [
    (None, False),  # plain exec keeps the ignored disposition: what the fix is for
    (child_setup(signal.SIGTERM), True),  # the launcher's nodes
    (child_setup(signal.SIGKILL), True),  # the head's learner
])
def test_children_take_sigint_even_when_the_parent_ignores_it(
    sigint_ignored: None, preexec: Callable[[], None] | None, takes_sigint: bool
) -> None:
    result = subprocess.run([sys.executable, "-c", REPORT], preexec_fn=preexec,
                            capture_output=True, check=True)
    assert result.stdout.strip() == str(takes_sigint).encode()
