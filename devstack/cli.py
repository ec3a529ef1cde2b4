"""`python -m devstack.cli …`: the keeper's CLI (`python -m keeper`) on the local stack's
context, which follows the emulator's clock (devstack/context.py)."""

import sys

from devstack.context import local_context
from handlers import dispatch
from keeper.operator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], local_context, log_stream=sys.stderr, dispatch=dispatch))
