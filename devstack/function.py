"""The function as the local stack runs it: main.py's start-up and entry points over the local
stack's context (devstack/context.py: the emulator's clock). Served with `functions-framework
--source devstack/function.py --target on_workspace_event` (or `on_sweep`)."""

from __future__ import annotations

from typing import Any

import functions_framework

from devstack.context import local_context
from handlers import dispatch
from keeper.runtime.context import start_instance
from keeper.sweep.run import sweep_from_message

start_instance()


@functions_framework.cloud_event
def on_workspace_event(cloud_event: Any) -> None:
    dispatch(cloud_event.data, local_context)


@functions_framework.cloud_event
def on_sweep(cloud_event: Any) -> None:
    sweep_from_message(cloud_event.data, local_context)
