import sys

from keeper.operator.cli import main

# Output is for the operator on stdout; log lines go to stderr (errors only unless --verbose).
sys.exit(main(log_stream=sys.stderr))
