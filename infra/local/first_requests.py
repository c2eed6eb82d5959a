#!/usr/bin/env python3
"""The first requests an IdP and an operator make to a freshly started local stack.

    first_requests.py ENDPOINT_ENV

Sends, all at once, one request to every route of
[workspace.metadata.lambda.watch.router] (so every HTTP function gets at least one),
as the IdP (SCIM token) and the operator (operator key) of the stack whose
.local/endpoint.env is ENDPOINT_ENV, and checks each status. A `500` that is
cargo-lambda's own (its problem document, https://httpstatuses.com/500) is reported as
such. One line per request, then `first requests: N passed, N failed`.

cargo-lambda 1.9.2 answers its own 500 now and then when a function's answer is large and
the machine is busy: it acknowledges the function's response before reading its body,
then fails to read it (docs/DECISIONS.md, "The local stack"). API Gateway
has no such fault. A GET that meets it is sent once more and counted on the summary line
as `emulator 500s retried: N`; any other failure, or a second one, fails the check.
"""

import concurrent.futures
import json
import pathlib
import sys
import tomllib
import urllib.error
import urllib.request

from sample_events import read_env_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
EMULATOR_500 = "httpstatuses.com/500"

# (route of the router, method, path under the SCIM base URL or the admin API, body,
# expected status). Every route of the router must appear (checked below).
REQUESTS = [
    ("/scim/v2/directories/{directoryId}/ServiceProviderConfig", "GET", "/ServiceProviderConfig", None, 200),
    ("/scim/v2/directories/{directoryId}/Schemas", "GET", "/Schemas", None, 200),
    ("/scim/v2/directories/{directoryId}/Schemas/{id}", "GET",
     "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", None, 200),
    ("/scim/v2/directories/{directoryId}/ResourceTypes", "GET", "/ResourceTypes", None, 200),
    ("/scim/v2/directories/{directoryId}/ResourceTypes/{name}", "GET", "/ResourceTypes/User", None, 200),
    ("/scim/v2/directories/{directoryId}/Roles", "GET", "/Roles", None, 200),
    ("/scim/v2/directories/{directoryId}/Roles/{id}", "GET", "/Roles/no-such-role", None, 404),
    ("/scim/v2/directories/{directoryId}/Users", "GET",
     '/Users?filter=userName%20eq%20%22first@example.com%22&startIndex=1&count=100', None, 200),
    ("/scim/v2/directories/{directoryId}/Users/{id}", "GET", "/Users/no-such-user", None, 404),
    ("/scim/v2/directories/{directoryId}/Groups", "GET", "/Groups?startIndex=1&count=100", None, 200),
    ("/scim/v2/directories/{directoryId}/Groups/{id}", "GET", "/Groups/no-such-group", None, 404),
    ("/scim/v2/directories/{directoryId}/Bulk", "POST", "/Bulk",
     {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
         {"method": "POST", "path": "/Users", "bulkId": "first", "data": {
             "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
             "userName": "first-bulk@example.com"}}]}, 200),
    ("/scim/v2/directories/{directoryId}/{*path}", "GET", "/NoSuchEndpoint", None, 404),
    ("/admin/v1/{*proxy}", "GET", "/orgs/{ORG_ID}/directories", None, 200),
    # urllib follows the 308 to /console/index.html.
    ("/console", "GET", "/console", None, 200),
    ("/console/{*path}", "GET", "/console/app.js", None, 200),
]


def send(env, route, method, path, body, expected):
    """None when the answer is as expected, else the failure; and whether an emulator 500
    was retried."""
    failure = attempt(env, route, method, path, body, expected)
    if failure and EMULATOR_500 in failure and method == "GET":
        return attempt(env, route, method, path, body, expected), True
    return failure, False


def attempt(env, route, method, path, body, expected):
    if route.startswith("/admin/"):
        url, token = env["ADMIN_BASE_URL"] + path.format(**env), env["OPERATOR_KEY"]
    elif route.startswith("/console"):
        url, token = env["ADMIN_BASE_URL"].removesuffix("/admin/v1") + path, None
    else:
        url, token = env["SCIM_BASE_URL"] + path, env["SCIM_TOKEN"]
    headers = {"Content-Type": "application/scim+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None, headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode(errors="replace")
    except OSError as error:
        return f"FAIL {method} {path}: no answer ({error})"
    if status == expected:
        return None
    whose = "cargo-lambda's own 500" if EMULATOR_500 in text else "the function's answer"
    return f"FAIL {method} {path}: {status} ({whose}), expected {expected}: {text[:200]}"


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    env = read_env_file(argv[1])
    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
    missing = sorted(set(router) - {route for route, *_ in REQUESTS})
    if missing:
        sys.exit(f"first_requests: no request for the routes {missing}: add them to REQUESTS")
    with concurrent.futures.ThreadPoolExecutor(len(REQUESTS)) as pool:
        results = list(pool.map(lambda r: send(env, *r), REQUESTS))
    for (route, method, path, _, expected), (failure, retried) in zip(REQUESTS, results):
        note = " after an emulator 500" if retried else ""
        print(failure or f"ok   {method} {path}: {expected} ({router[route]}){note}", flush=True)
    failed = sum(1 for failure, _ in results if failure)
    retried = sum(1 for _, r in results if r)
    print(f"first requests: {len(REQUESTS) - failed} passed, {failed} failed"
          f" (emulator 500s retried: {retried})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
