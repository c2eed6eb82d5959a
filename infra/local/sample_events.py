#!/usr/bin/env python3
"""The sample events under functions/*/events/, for `cargo lambda invoke` against `make run`.

    sample_events.py render ENDPOINT_ENV
        Fills the samples' placeholders with the stack's values and writes them beside
        ENDPOINT_ENV, to sample-events/<function>/<name>.json (mode 600: they hold the
        SCIM token and the admin key). ENDPOINT_ENV is what `make run` writes
        (.local/endpoint.env):
          __DIRECTORY_ID__ __SCIM_TOKEN__ __ORG_ID__ __ADMIN_KEY__   from that file;
          __USER_ID__ __GROUP_ID__   a user grace@example.com and a group "Sample group"
          in that directory, created through its SCIM API when missing (the Okta group
          PATCH adds that user to that group).
        `make run` runs this: .local/sample-events/.

    sample_events.py check ENDPOINT_ENV PORT
        Invokes every sample rendered beside ENDPOINT_ENV (its sample-events/ directory,
        as `make run` renders them), in the order of CHECKS, with
        `cargo lambda invoke <function> --data-file ...` against the functions on
        127.0.0.1:PORT, and checks each answer's status and one field of its body that
        says the function did what the sample asks (for the group PATCH, which answers
        204 as Okta expects, the group as read back through SCIM). Fails when a sample
        has no check.
        Expects a stack whose directory has none of the samples' users yet (a fresh
        `make run`): the second create of ada@example.com is a 409.

Standard library only (the project venv puts `cargo lambda` on PATH).
"""

import base64
import json
import pathlib
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"__([A-Z_]+)__")
FROM_ENDPOINT_ENV = ("DIRECTORY_ID", "SCIM_TOKEN", "ORG_ID", "ADMIN_KEY")
SAMPLE_USER = "grace@example.com"
SAMPLE_GROUP = "Sample group"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def samples():
    """(function, path) of every sample event, sorted."""
    return sorted(
        (path.parent.parent.name, path) for path in ROOT.glob("functions/*/events/*.json")
    )


def read_env_file(path):
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def scim(base_url, token, method, path, body=None):
    """(status, JSON body) of one SCIM request."""
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def find_or_create(base_url, token, resource, attribute, value, body):
    """The id of the resource whose `attribute` is `value`, created with `body` if none."""
    status, created = scim(base_url, token, "POST", f"/{resource}", body)
    if status == 201:
        return created["id"]
    query = urllib.parse.quote(f'{attribute} eq "{value}"')
    status, listed = scim(base_url, token, "GET", f"/{resource}?filter={query}")
    if status != 200 or not listed.get("Resources"):
        sys.exit(f"sample_events: cannot create or find {resource} {value!r}: {status} {listed}")
    return listed["Resources"][0]["id"]


def events_dir(endpoint_env):
    """Where the samples rendered for the stack of ENDPOINT_ENV are."""
    return pathlib.Path(endpoint_env).parent / "sample-events"


def render(endpoint_env):
    env = read_env_file(endpoint_env)
    missing = [key for key in FROM_ENDPOINT_ENV + ("SCIM_BASE_URL",) if not env.get(key)]
    if missing:
        sys.exit(f"sample_events: {endpoint_env} lacks {', '.join(missing)}")
    values = {key: env[key] for key in FROM_ENDPOINT_ENV}
    base_url, token = env["SCIM_BASE_URL"], env["SCIM_TOKEN"]
    values["USER_ID"] = find_or_create(
        base_url, token, "Users", "userName", SAMPLE_USER,
        {"schemas": [USER_SCHEMA], "userName": SAMPLE_USER,
         "emails": [{"value": SAMPLE_USER, "primary": True}]},
    )
    values["GROUP_ID"] = find_or_create(
        base_url, token, "Groups", "displayName", SAMPLE_GROUP,
        {"schemas": [GROUP_SCHEMA], "displayName": SAMPLE_GROUP},
    )
    out = events_dir(endpoint_env)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for function, path in samples():
        text = path.read_text()
        unknown = set(PLACEHOLDER.findall(text)) - values.keys()
        if unknown:
            sys.exit(f"sample_events: {path.relative_to(ROOT)} has unknown placeholders {sorted(unknown)}")
        rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        target = out / function / path.name
        target.parent.mkdir(mode=0o700, exist_ok=True)
        target.touch(mode=0o600)
        target.write_text(rendered)
    print(f"sample_events: {len(samples())} samples rendered into {out}")


def http_answer(payload):
    """(statusCode, body) of an API Gateway v2 response: the JSON body read, any other
    (the console's page) as text."""
    body = payload.get("body") or "null"
    if payload.get("isBase64Encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    try:
        return payload.get("statusCode"), json.loads(body)
    except ValueError:
        return payload.get("statusCode"), body


def operation_statuses(body):
    return [op.get("status") for op in body.get("Operations", [])]


def sample_group_members(env):
    """The member ids of the sample group, read through SCIM."""
    query = urllib.parse.quote(f'displayName eq "{SAMPLE_GROUP}"')
    _, listed = scim(env["SCIM_BASE_URL"], env["SCIM_TOKEN"], "GET", f"/Groups?filter={query}")
    groups = (listed or {}).get("Resources") or [{}]
    return [member.get("value") for member in groups[0].get("members", [])]


def sample_user_id(env):
    query = urllib.parse.quote(f'userName eq "{SAMPLE_USER}"')
    _, listed = scim(env["SCIM_BASE_URL"], env["SCIM_TOKEN"], "GET", f"/Users?filter={query}")
    return ((listed or {}).get("Resources") or [{}])[0].get("id")


# (function, sample, expected status (None: not an HTTP function), what the answer must
# show, and that check of (body, endpoint env)), run in this order: the group PATCH and
# the diagnosis read what the render step and the create made.
CHECKS = [
    ("scim-users", "create-user.json", 201, "userName is ada@example.com",
     lambda body, env: body.get("userName") == "ada@example.com"),
    ("scim-groups", "okta-group-patch.json", 204, f"{SAMPLE_USER} is now a member of {SAMPLE_GROUP!r}",
     lambda body, env: sample_user_id(env) in sample_group_members(env)),
    ("scim-bulk", "bulk.json", 200, "both operations answered 201",
     lambda body, env: operation_statuses(body) == ["201", "201"]),
    ("scim-discovery", "service-provider-config.json", 200, "bulk is supported",
     lambda body, env: body.get("bulk", {}).get("supported") is True),
    ("admin", "diagnose.json", 200, "the diagnosis is of ada@example.com",
     lambda body, env: body.get("email") == "ada@example.com"),
    ("events", "stream-insert.json", None, "no batch item failed",
     lambda body, env: body == {"batchItemFailures": []}),
    ("events", "scheduled.json", None, "a retry tick's counts",
     lambda body, env: {"delivered", "drained", "failing"} <= set(body)),
    # A wake of a job whose clean-up is over (none is stored): nothing to do, nothing fails.
    ("group-cleanup", "job-wake.json", None, "no batch item failed",
     lambda body, env: body == {"batchItemFailures": []}),
    ("console", "index.json", 200, "the console's page, which loads its own script",
     lambda body, env: isinstance(body, str) and 'src="/console/app.js"' in body),
]


def check(endpoint_env, port):
    env = read_env_file(endpoint_env)
    rendered = events_dir(endpoint_env)
    checked = {(function, sample) for function, sample, *_ in CHECKS}
    unchecked = [f"{f}/{p.name}" for f, p in samples() if (f, p.name) not in checked]
    if unchecked:
        sys.exit(f"sample_events: no check for {', '.join(unchecked)}: add one to CHECKS")
    failed = 0
    for function, sample, status, meaning, holds in CHECKS:
        data_file = rendered / function / sample
        run = subprocess.run(
            ["cargo", "lambda", "invoke", function, "--invoke-address", "127.0.0.1",
             "--invoke-port", str(port), "--data-file", str(data_file)],
            capture_output=True, text=True, timeout=300,
        )
        problem = None
        try:
            if run.returncode != 0:
                raise ValueError(f"exit {run.returncode}: {run.stderr.strip()[:300]}")
            payload = json.loads(run.stdout)
            got, body = http_answer(payload) if status is not None else (None, payload)
            if got != status:
                problem = f"status {got}, expected {status}: {json.dumps(body)[:300]}"
            elif not holds(body or {}, env):
                problem = f"expected {meaning}: {json.dumps(body)[:300]}"
        except (ValueError, AttributeError, TypeError) as error:
            problem = f"unreadable answer ({error}): {run.stdout.strip()[:300]}"
        label = f"{function} {sample}"
        if problem:
            failed += 1
            print(f"FAIL {label}: {problem}", flush=True)
        else:
            print(f"ok   {label}: {status or 'invoked'}, {meaning}", flush=True)
    print(f"sample events: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "render":
        render(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], int(argv[3]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
