#!/usr/bin/env python3
"""GitHub's runner drops a job output whose value contains a secret's value, with a warning.

Run by the step the act harness appends to every job that has ``outputs:`` (act passes such outputs on). The
job's outputs are rewritten to read this step's: ``$ACT_OUTPUT_NAMES`` (JSON list) names them, ``ACT_OUTPUT_<i>``
holds the value as written in the workflow, ``ACT_SECRET_<j>`` every secret of the run (and the job's token).
"""

import json
import os
import uuid

names = json.loads(os.environ["ACT_OUTPUT_NAMES"])
secrets = [v for k, v in os.environ.items() if k.startswith("ACT_SECRET_") and v]
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
    for i, name in enumerate(names):
        value = os.environ.get(f"ACT_OUTPUT_{i}", "")
        if any(secret in value for secret in secrets):
            print(f"::warning::Skip output '{name}' since it may contain secret.")
            continue
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
