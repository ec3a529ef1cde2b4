"""The local stack's context: the product's (keeper/runtime/context.py), with "now" read from
the Workspace Events API emulator's clock, which the local run and the tests move forward by
days in a second. devstack/function.py serves the function on it; `python -m devstack.cli`
is the keeper's CLI on it; tests call `local_context()`.

Unlike a deployed instance, whose configuration is fixed, the tests change the environment
between cases (a project per test): one context per configuration read."""

from __future__ import annotations

import functools

from devstack.clock import EmulatorClock
from keeper.engine.ports import Context
from keeper.runtime.config import Config
from keeper.runtime.context import build


@functools.cache
def _on_the_emulators_clock(config: Config) -> Context:
    return build(config, clock=EmulatorClock(config.api_endpoint))


def local_context() -> Context:
    return _on_the_emulators_clock(Config.from_env())
