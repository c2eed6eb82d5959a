"""SCIM 2.0 conformance run of scim2-tester against a running scimlink directory.

    SCIM_TOKEN=... .local/venv/bin/python infra/local/scim_conformance.py \
        http://127.0.0.1:PORT/scim/v2/directories/DIRECTORY_ID

`make test` (infra/local/test.sh) runs it against `cargo lambda watch` with a
fresh org, directory and token; it also works against `make run`'s directory
(`set -a; . .local/endpoint.env; set +a` and pass "$SCIM_BASE_URL").

scim2-tester has no command line of its own (scim2-cli wraps it, with far more
dependencies): its API is `scim2_tester.check_server(client, include_tags=,
exclude_tags=, resource_types=)` with a scim2-client `SyncSCIMClient` over an
httpx2 client. It discovers the server from ServiceProviderConfig,
ResourceTypes and Schemas, then runs create/read/list/attributes/replace/
delete and PATCH add/remove/replace checks per resource type, each returning
`CheckResult`s (status, title, reason, data).

Prints one line per result and ends with `scim2-tester: N passed, N failed,
N skipped`. Exit status: 0 when nothing failed and something passed, 1 when a
check failed, 2 when the server could not be reached or the run broke.
The token comes from the environment, not the command line (`ps` shows that).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

# Checks excluded by tag, each with the reason printed next to it. Only what the
# server deliberately does not offer belongs here; a check that finds a real
# server bug is fixed in the server, never listed here.
EXCLUDED_TAGS: dict[str, str] = {
    # (none: every checker scim2-tester 0.5.2 has applies to scimlink. It has no
    # bulk, sort or changePassword checkers, and the PATCH checkers already skip
    # themselves when ServiceProviderConfig says patch is unsupported.)
}

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
# DEVIATION breaks a SHOULD of the RFCs: it fails the run too (scim2-tester
# 0.5.2 never reports it, but a newer release may).
FAILED = {Status.ERROR, Status.CRITICAL, Status.DEVIATION}


def warm_up(client: httpx2.Client, paths: list[str], deadline: float) -> None:
    """Waits until each function answers a first request.

    `cargo lambda watch` starts a function's process on the first request to
    one of its routes (and compiles it if needed); that request waits. Asking
    each function once here, with a long timeout, keeps the checks' own
    requests (shorter timeout) from counting start-up time.
    """
    for path in paths:
        while True:
            try:
                response = client.get(path, timeout=max(deadline - time.monotonic(), 1))
                if response.status_code < 500:
                    break
                why = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx2.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise SystemExit(f"scim2-tester: {path} not ready: {why}")
            time.sleep(1)


def label(result: CheckResult) -> str:
    if result.status in PASSED:
        return "PASS"
    if result.status in FAILED:
        return "FAIL"
    return "SKIP"


def describe(result: CheckResult) -> str:
    where = f"[{result.resource_type}] " if result.resource_type else ""
    reason = " ".join((result.reason or "").split())
    if result.status == Status.SKIPPED and "tag exclusion" in reason:
        why = [EXCLUDED_TAGS[t] for t in sorted(result.tags) if t in EXCLUDED_TAGS]
        reason = f"excluded: {'; '.join(why) or reason}"
    return f"{label(result):4} {result.status.name:10} {where}{result.title}: {reason}"


def short(data: Any, limit: int = 1500) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="SCIM base URL of one directory")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request (default 30)")
    parser.add_argument(
        "--warm-up", type=float, default=300,
        help="seconds to wait for the functions' first answers (default 300)",
    )
    parser.add_argument("--verbose", action="store_true", help="print the data of every result")
    args = parser.parse_args()

    token = os.environ.get("SCIM_TOKEN")
    if not token:
        print("scim2-tester: SCIM_TOKEN is not set", file=sys.stderr)
        return 2

    started = time.monotonic()
    http = httpx2.Client(
        base_url=args.base_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=args.timeout,
    )
    # One route of each SCIM function: discovery, users, groups.
    warm_up(http, ["ServiceProviderConfig", "Users?count=1", "Groups?count=1"], started + args.warm_up)
    warmed = time.monotonic()

    client = SyncSCIMClient(http)
    try:
        results = check_server(client, exclude_tags=set(EXCLUDED_TAGS) or None)
    finally:
        http.close()
    finished = time.monotonic()

    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for result in results:
        counts[label(result)] += 1
        print(describe(result))
        if label(result) == "FAIL" or args.verbose:
            if result.data is not None:
                print(f"       data: {short(result.data)}")

    print(
        f"scim2-tester: warm-up {warmed - started:.1f}s, checks {finished - warmed:.1f}s",
        file=sys.stderr,
    )
    print(f"scim2-tester: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    if counts["FAIL"]:
        return 1
    if not counts["PASS"]:
        print("scim2-tester: no check passed (could the server be described?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
