import sys

from keeper import logs
from keeper.cli import main

# Output is for the operator on stdout; logs go to stderr.
logs.configure(stream=sys.stderr)
sys.exit(main())
