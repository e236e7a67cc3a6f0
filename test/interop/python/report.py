"""The line a script reports its result on, and the exit right after it."""

import json
import os


def report_and_exit(result) -> None:
    """Prints "SPARKPLANE_RESULT <json>" and ends the process at once.

    A normal interpreter exit joins PySpark's shared ReleaseExecute thread pool, which waits for
    every release still queued, each retried under its session's policy: a release for a
    session whose server is gone, or that the gateway refused, can hold the exit for minutes.
    The result is already out, and the sessions are the servers' to expire.
    """
    print("SPARKPLANE_RESULT " + json.dumps(result), flush=True)
    os._exit(0)
