#!/usr/bin/env python3
"""Schemathesis against the admin API of a running local stack (`make test`).

    OPERATOR_KEY=... infra/local/api_fuzz.py http://127.0.0.1:PORT/admin/v1

Creates a fresh org as the operator (a directory, a site and product, an org group, an
invited account, a poll subscription and an org admin key), then runs Schemathesis from
the document the stack serves (GET /admin/v1/openapi.json) with that org admin key,
configured by infra/local/schemathesis.toml: checks not_a_server_error,
status_code_conformance and response_schema_conformance. Keys reach Schemathesis through
the environment, never its command line. Prints one line per operation that failed and
`schemathesis: N operations, N passed, N failed (N test cases)`; exits non-zero on any failure.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)


def fresh_org(base, operator):
    org = call(base, operator, "POST", "/orgs", {"name": "schemathesis", "verifiedDomains": ["example.com"]})
    o = f"/orgs/{org['id']}"
    directory = call(base, operator, "POST", f"{o}/directories", {"name": "schemathesis", "idp": "okta"})
    call(base, operator, "POST", f"{o}/sites", {"id": "acme", "name": "acme.example.net"})
    call(base, operator, "POST", f"{o}/products", {"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]})
    group = call(base, operator, "POST", f"{o}/org-groups", {"name": "fuzzers", "roles": ["jira/user"]})
    account = call(base, operator, "POST", f"{o}/invites", {"email": "fuzz@example.com", "displayName": "Fuzz"})
    sub = call(base, operator, "POST", f"{o}/subscriptions", {"name": "fuzz", "delivery": {"method": "poll"}})
    key = call(base, operator, "POST", f"{o}/admin-keys")
    return {
        "SCIMLINK_FUZZ_ORG_ID": org["id"],
        "SCIMLINK_FUZZ_DIRECTORY_ID": directory["id"],
        "SCIMLINK_FUZZ_ORG_GROUP_ID": group["id"],
        "SCIMLINK_FUZZ_ACCOUNT_ID": account["id"],
        "SCIMLINK_FUZZ_SUBSCRIPTION_ID": sub["id"],
        "SCIMLINK_FUZZ_ADMIN_KEY": key["key"],
    }


def main():
    if len(sys.argv) != 2 or not os.environ.get("OPERATOR_KEY"):
        sys.exit(__doc__)
    base = sys.argv[1].rstrip("/")
    env = dict(os.environ, **fresh_org(base, os.environ["OPERATOR_KEY"]))
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    env["SCHEMATHESIS_HOOKS"] = "schemathesis_hooks"
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    with tempfile.TemporaryDirectory(prefix="scimlink-schemathesis-") as tmp:
        junit = os.path.join(tmp, "junit.xml")
        cmd = [
            schemathesis, "--config-file", os.path.join(HERE, "schemathesis.toml"),
            "run", f"{base}/openapi.json", "--url", base,
            "--report", "junit", "--report-junit-path", junit,
            "--no-color",
        ]
        run = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = os.environ.get("SCIMLINK_FUZZ_LOG")
        if log:
            with open(log, "w") as f:
                f.write(run.stdout)
        try:
            cases = ET.parse(junit).getroot().iter("testcase")
        except (OSError, ET.ParseError) as e:
            print(run.stdout[-4000:])
            print(f"schemathesis: no report ({e}); exit status {run.returncode}")
            return 1
        total = passed = failed = 0
        for case in cases:
            total += 1
            problems = case.findall("failure") + case.findall("error")
            if problems:
                failed += 1
                first = (problems[0].get("message") or problems[0].text or "").strip().splitlines()
                print(f"FAILED {case.get('name')}: {first[0] if first else ''}")
            else:
                passed += 1
        if failed or run.returncode != 0:
            print(run.stdout[-6000:])
        generated = re.search(r"(\d+) generated", run.stdout)
        cases_run = f" ({generated.group(1)} test cases)" if generated else ""
        print(f"schemathesis: {total} operations, {passed} passed, {failed} failed{cases_run}")
        return 0 if failed == 0 and run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
