"""Run gcloud command lines through the installed Google Cloud CLI, in one process.

Not a test module: tests/deploy/test_deploy_dry_run.py runs it with the SDK's own Python
(`python3 gcloud_harness.py SDK_ROOT`), one JSON array of arguments (without the leading
`gcloud`) per stdin line, and reads one JSON object per line back:
{"code": <exit status>, "stderr": "..."}.

Each command goes through the same entry point as `gcloud ...` on a shell (the CLI tree built
once by gcloud_main.CreateCLI, then cli.Execute(argv)), so its flags are parsed by gcloud's own
parser; loading the CLI once instead of once per command makes a hundred commands take seconds
instead of a minute. The caller provides a fresh CLOUDSDK_CONFIG with no account, so a
command that parses stops at the first credential lookup.
"""

from __future__ import annotations

import io
import json
import os
import sys


def main() -> None:
    sdk_root = sys.argv[1]
    lib = os.path.join(sdk_root, "lib")
    sys.path[:0] = [lib, os.path.join(lib, "third_party")]
    from googlecloudsdk import gcloud_main  # type: ignore[import-not-found]
    from googlecloudsdk.core import log  # type: ignore[import-not-found]

    cli = gcloud_main.CreateCLI([])
    out = sys.stdout
    # Read every request first: a command that reads stdin must see an empty one, not ours.
    requests = [json.loads(line) for line in sys.stdin if line.strip()]
    sys.stdin = open(os.devnull)  # noqa: SIM115  (for the rest of the process)
    for argv in requests:
        captured = io.StringIO()
        code: object = 0
        sys.stdout, sys.stderr = io.StringIO(), captured
        log.Reset(stdout=sys.stdout, stderr=captured)
        try:
            cli.Execute(argv)
        except SystemExit as stop:
            code = stop.code
        except BaseException as error:  # reported to the caller, not hidden
            code = 1
            captured.write(f"harness: {type(error).__name__}: {error}\n")
        finally:
            sys.stdout, sys.stderr = out, sys.__stderr__
        if code is None:
            code = 0
        elif not isinstance(code, int):
            captured.write(f"{code}\n")
            code = 1
        out.write(json.dumps({"code": code, "stderr": captured.getvalue()}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
