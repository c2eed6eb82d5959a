#!/usr/bin/env python3
"""A load run against a running local stack, as an IdP's first full push would make it.

    load.py ENDPOINT_ENV [--users N] [--concurrency C] [--members M]

ENDPOINT_ENV is the stack's .local/endpoint.env (`make run` writes it). Phases, each
with C requests in flight: N user creates, N `userName eq` lookups, a group of M of those
users (PATCH adds of 100 members, as Okta sends them) and its DELETE, then N user
deletes. Prints one line per phase (requests, seconds, requests per second, statuses)
and fails when any request gets an unexpected status. Standard library only.

Issue 12 measured `make run` with 1,000 users at 16 in flight; run it the same way to
compare the debug and the release mode (`SCIMLINK_RELEASE=1 make run`).
"""

import argparse
import concurrent.futures
import sys
import time
import urllib.parse
import uuid

from sample_events import read_env_file, scim

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def call(base, token, method, path, body=None):
    """(status, body) of one SCIM request; an answer that is not JSON (the emulator's own
    500 is text) or no answer at all is a failure to report, not a crash."""
    try:
        return scim(base, token, method, path, body)
    except (ValueError, OSError) as error:
        return 0, f"{type(error).__name__}: {error}"


def phase(name, jobs, concurrency, expect):
    """Runs every job (a function returning (status, body)) with `concurrency` in flight;
    prints the phase's line and returns the bodies. Exits on an unexpected status."""
    started = time.monotonic()
    statuses = {}
    bodies = []
    failures = []
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for status, body in pool.map(lambda job: job(), jobs):
            statuses[status] = statuses.get(status, 0) + 1
            bodies.append(body)
            if status != expect and len(failures) < 3:
                failures.append(f"{status} {body}")
    seconds = time.monotonic() - started
    rate = len(jobs) / seconds if seconds > 0 else 0.0
    shown = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
    print(f"{name}: {len(jobs)} requests in {seconds:.2f} s, {rate:.0f}/s ({shown})", flush=True)
    if failures:
        print(f"load: {name} got unexpected statuses: " + " | ".join(failures), file=sys.stderr)
        sys.exit(1)
    return bodies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint_env")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()
    env = read_env_file(args.endpoint_env)
    base, token = env["SCIM_BASE_URL"], env["SCIM_TOKEN"]
    c = args.concurrency
    run = uuid.uuid4().hex[:8]
    emails = [f"load-{run}-{i}@example.com" for i in range(args.users)]

    def create(email):
        body = {"schemas": [USER], "userName": email, "active": True,
                "name": {"givenName": "Load", "familyName": email.split("@")[0]},
                "emails": [{"value": email, "type": "work", "primary": True}]}
        return lambda: call(base, token, "POST", "/Users", body)

    created = phase("create users", [create(e) for e in emails], c, 201)
    ids = [b["id"] for b in created]

    def lookup(email):
        query = urllib.parse.quote(f'userName eq "{email}"')
        return lambda: call(base, token, "GET", f"/Users?filter={query}")

    found = phase("lookups (userName eq)", [lookup(e) for e in emails], c, 200)
    if any(b.get("totalResults") != 1 for b in found):
        print("load: a lookup did not find exactly its user", file=sys.stderr)
        sys.exit(1)

    members = ids[: args.members]
    status, group = call(base, token, "POST", "/Groups",
                         {"schemas": [GROUP], "displayName": f"Load {run}"})
    if status != 201:
        print(f"load: group create got {status} {group}", file=sys.stderr)
        sys.exit(1)
    gid = group["id"]

    def add(chunk):
        body = {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": i} for i in chunk]}]}
        return lambda: call(base, token, "PATCH", f"/Groups/{gid}", body)

    chunks = [members[i:i + 100] for i in range(0, len(members), 100)]
    # One after the other: an IdP sends a group's membership changes in order.
    phase(f"group member adds ({len(members)} members)", [add(ch) for ch in chunks], 1, 204)
    phase(f"delete the {len(members)}-member group",
          [lambda: call(base, token, "DELETE", f"/Groups/{gid}")], 1, 204)

    def delete(uid):
        return lambda: call(base, token, "DELETE", f"/Users/{uid}")

    phase("delete users", [delete(i) for i in ids], c, 204)


if __name__ == "__main__":
    main()
