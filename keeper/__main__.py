"""`python -m keeper`: the operator's CLI on the instance's context (keeper/runtime/context.py)."""

import sys

from handlers import dispatch
from keeper.operator.cli import main, usable_google_credentials
from keeper.runtime.context import LazyContext

# Output is for the operator on stdout; log lines go to stderr (errors only unless --verbose).
sys.exit(
    main(
        sys.argv[1:],
        LazyContext(),
        log_stream=sys.stderr,
        dispatch=dispatch,
        credentials_check=usable_google_credentials,
    )
)
