#!/usr/bin/env python3
"""The web console in a real browser (issue 11; docs/CONSOLE.md, "Browser tests").

    console_browser.py http://127.0.0.1:PORT [--docs-screenshots DIR]

Drives Debian's headless Chromium through Debian's chromedriver (W3C WebDriver, spoken
here over `requests`: no browser or driver is downloaded, nothing but the two system
binaries and the venv's pinned `requests`). The functions must be up on PORT (test.sh
starts them); OPERATOR_KEY (environment) sets up a fresh org through the admin API,
then each case acts in the browser and checks what it shows against what the API says.

One line per case, then `browser: N passed, N failed`; exit status 1 when one failed.
A failed case leaves a screenshot in .local/browser-failures/<case>.png.
--docs-screenshots DIR writes console-conflicts.png and console-diagnose.png there.
"""

import argparse
import base64
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAILURES = ROOT / ".local" / "browser-failures"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element key
WAIT = 90.0  # seconds an element or a state may take to appear (a function starting cold on a busy machine)
HOSTILE = "<img src=x onerror=alert(1)>"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# --- the admin and SCIM APIs (set-up and the values the page must show) ---------------


class Api:
    def __init__(self, base, operator_key):
        self.base = base
        self.http = requests.Session()
        self.operator = operator_key
        self.org = self.directory = self.scim_path = self.scim_token = self.admin_key = None

    def call(self, method, path, body=None, key=None, expect=(200, 201, 204)):
        r = self.http.request(
            method,
            self.base + path,
            json=body,
            headers={"Authorization": "Bearer " + (key or self.operator)},
            timeout=300,  # the first call to a function waits for it to start
        )
        if r.status_code not in expect:
            raise Failure(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    def org_api(self, method, path, body=None, **kw):
        return self.call(method, f"/admin/v1/orgs/{self.org}{path}", body, **kw)

    def scim(self, method, path, body=None, token=None, expect=(200, 201, 204)):
        return self.call(method, self.scim_path + path, body, key=token or self.scim_token, expect=expect)

    def bootstrap(self):
        self.org = self.call("POST", "/admin/v1/orgs", {"name": "Console test", "verifiedDomains": ["example.com"]})["id"]
        d = self.org_api("POST", "/directories", {"name": "Okta", "idp": "okta"})
        self.directory, self.scim_path = d["id"], d["scimBaseUrl"]
        self.scim_token = self.org_api("POST", f"/directories/{self.directory}/tokens")["token"]
        self.admin_key = self.org_api("POST", "/admin-keys")["key"]

    def create_user(self, email):
        return self.scim("POST", "/Users", {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            "externalId": "ext-" + email,
            "active": True,
        })["id"]

    def create_group(self, name, members):
        return self.scim("POST", "/Groups", {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": [{"value": m} for m in members],
        })["id"]

    def invite(self, email):
        return self.org_api("POST", "/invites", {"email": email})["id"]

    def roles(self, account):
        return self.org_api("GET", f"/accounts/{account}/access")["roles"]


# --- a minimal W3C WebDriver client ----------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """chromedriver + headless chromium, one session; `close()` ends both."""

    def __init__(self):
        chromium = shutil.which("chromium")
        driver = shutil.which("chromedriver")
        if not chromium or not driver:
            raise SystemExit("chromium and chromedriver are needed (infra/local/setup.sh installs them)")
        self.profile = tempfile.mkdtemp(prefix="scimlink-chromium-")
        port = free_port()
        self.driver = subprocess.Popen(
            [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if self.http.get(self.url + "/status", timeout=2).json()["value"]["ready"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline or self.driver.poll() is not None:
                self.close()
                raise SystemExit("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless=new", f"--user-data-dir={self.profile}", "--window-size=1400,1100",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            # An alert stays open instead of being dismissed: the XSS case must see any.
            "unhandledPromptBehavior": "ignore",
        }
        r = self.http.post(self.url + "/session", json={"capabilities": {"alwaysMatch": caps}}, timeout=60)
        value = r.json()["value"]
        if "sessionId" not in value:
            self.close()
            raise SystemExit(f"chromedriver could not start chromium: {value}")
        self.session = self.url + "/session/" + value["sessionId"]

    def cmd(self, method, path, body=None):
        r = self.http.request(method, self.session + path, json=body, timeout=60)
        value = r.json().get("value")
        if r.status_code != 200:
            raise Failure(f"webdriver {path}: {value.get('error')}: {value.get('message', '')[:300]}")
        return value

    def close(self):
        if getattr(self, "session", None):
            try:
                self.http.delete(self.session, timeout=30)
            except requests.RequestException:
                pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script, what, *args):
        """Polls a JS expression (`return ...`) until it is truthy; answers its value."""
        deadline = time.monotonic() + WAIT
        while True:
            v = self.js(script, *args)
            if v:
                return v
            if time.monotonic() > deadline:
                status = self.js("return document.getElementById('status').textContent")
                raise Failure(f"timed out waiting for {what} (status line: {status!r})")
            time.sleep(0.1)

    def find(self, css):
        """The element matching `css` once it exists and is visible."""
        self.wait("const e = document.querySelector(arguments[0]); return e && e.offsetParent !== null;",
                  f"{css} to be visible", css)
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, value):
        e = self.find(css)
        self.cmd("POST", f"/element/{e}/clear", {})
        self.cmd("POST", f"/element/{e}/value", {"text": value})

    def text(self, css):
        self.find(css)
        return self.js("return document.querySelector(arguments[0]).textContent", css)

    def alert_open(self):
        r = self.http.get(self.session + "/alert/text", timeout=30)
        return r.status_code == 200

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)


# --- the cases -----------------------------------------------------------------------


class Cases:
    def __init__(self, api, browser, base, docs):
        self.api, self.b, self.base = api, browser, base
        # Screenshots for docs/ are taken into a temporary directory and moved there at the
        # end: under `make run`, cargo lambda watch restarts every function when a file of
        # the workspace changes, which would cut the cases after the first screenshot short.
        self.docs = pathlib.Path(tempfile.mkdtemp(prefix="scimlink-screenshots-")) if docs else None

    def setup(self):
        a = self.api
        a.bootstrap()
        # Diagnose: invited by an admin, then provisioned by the IdP (L10 then L1: took over).
        self.invited = "invited.then.provisioned@example.com"
        a.invite(self.invited)
        a.create_user(self.invited)
        # Conflicts (G3): the admins' jira-users has a and b; the IdP pushes JIRA-Users with
        # b, c and d: held, adding c and d, removing a.
        a.org_api("POST", "/sites", {"id": "acme", "name": "acme.example.net"})
        a.org_api("POST", "/products", {"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]})
        og = a.org_api("POST", "/org-groups", {"name": "jira-users", "roles": ["jira/user"]})["id"]
        self.accounts = {e: a.invite(e) for e in ["a@example.com", "b@example.com", "c@example.com"]}
        a.org_api("POST", f"/org-groups/{og}/members",
                  {"accountIds": [self.accounts["a@example.com"], self.accounts["b@example.com"]]})
        users = [a.create_user(e) for e in ["b@example.com", "c@example.com", "d@example.com"]]
        self.group = a.create_group("JIRA-Users", users)
        # The hostile IdP group name, held the same way (an admin group of that name).
        a.org_api("POST", "/org-groups", {"name": HOSTILE, "roles": ["jira/user"]})
        self.hostile = a.create_group(HOSTILE, users[:1])
        held = {c["groupId"] for c in a.org_api("GET", "/conflicts")["conflicts"]}
        check({self.group, self.hostile} <= held, f"the set-up's groups are not held: {held}")

    def nav(self, page):
        self.b.click(f"nav button[data-page={page}]")
        self.b.find(f"#page-{page}")

    def login(self):
        b = self.b
        b.get(self.base + "/console")  # 308 to /console/index.html
        b.type("#login-org", self.api.org)
        b.type("#login-key", self.api.admin_key)
        b.click("#login-form button[type=submit]")
        b.find("#nav")
        check(b.text("#who") == "org " + self.api.org, f"signed in as {b.text('#who')!r}")
        url = b.cmd("GET", "/url")
        check(self.api.admin_key not in url, "the admin key is in the URL")
        check(url.endswith("/console/index.html"), f"the page is {url}")

    def diagnose_invited_then_provisioned(self):
        b = self.b
        self.nav("diagnose")
        b.type("#diagnose-email", self.invited)
        b.click("#diagnose-form button[type=submit]")
        shown = b.text("#diagnose-verdict .verdict-text")
        api = self.api.org_api("GET", "/diagnose?email=" + requests.utils.quote(self.invited))
        check(shown == api["verdict"], f"verdict {shown!r}, the API says {api['verdict']!r}")
        check(b.text("#diagnose-verdict .next") == "Next step: " + api["nextStep"], "the next step differs")
        fields = b.js("return Object.fromEntries([...document.querySelectorAll('#diagnose-account tr')]"
                      ".map(r => [...r.cells].map(c => c.textContent)))")
        check(fields.get("origin") == "invited", f"account origin {fields.get('origin')!r}")
        check(api["scimUsers"][0]["id"] in fields.get("linked SCIM user", ""), "the linked SCIM user is not shown")
        if self.docs:
            b.screenshot(self.docs / "console-diagnose.png")

    def open_review(self, group):
        self.nav("conflicts")
        self.b.click(f"tr.conflict[data-group='{group}'] button.review")
        self.b.wait("return document.querySelector('#review-added-count') !== null", "the review")

    def held_conflict_numbers_match_the_api(self):
        b = self.b
        self.open_review(self.group)
        api = self.api.org_api("GET", f"/conflicts/{self.api.directory}/{self.group}?limit=50")
        added, removed = int(b.text("#review-added-count")), int(b.text("#review-removed-count"))
        check((added, removed) == (api["added"], api["removed"]),
              f"page +{added} -{removed}, API +{api['added']} -{api['removed']}")
        check((added, removed) == (2, 1), f"expected +2 -1 from the set-up, got +{added} -{removed}")
        listed = b.js("return [...document.querySelectorAll('#review-added .email')].map(e => e.textContent)")
        check(sorted(listed) == sorted(c["email"] for c in api["accountsAdded"]), f"added accounts {listed}")
        # An account expands to the access it gains.
        b.click("#review-added li summary")
        gains = b.text("#review-added li dd.gains")
        check(gains == ", ".join(api["accountsAdded"][0]["gains"]), f"gains {gains!r}")
        if self.docs:
            b.screenshot(self.docs / "console-conflicts.png")

    def sync_through_the_dry_run(self):
        b = self.b
        a_account, c_account = self.accounts["a@example.com"], self.accounts["c@example.com"]
        check("jira/user" in self.api.roles(a_account) and "jira/user" not in self.api.roles(c_account),
              "the set-up's access is not as expected")
        self.open_review(self.group)
        b.click("#review-sync")
        b.find("#confirm")
        dry = self.api.org_api("POST", f"/conflicts/{self.api.directory}/{self.group}/sync?dryRun=true")
        shown = sorted(b.js("return [...document.querySelectorAll('#confirm-removed .email')].map(e => e.textContent)"))
        check(shown == sorted(c["email"] for c in dry["accountsRemoved"]), f"the confirmation removes {shown}")
        check(int(b.text("#confirm-added-count")) == len(dry["accountsAdded"]), "the confirmation's added count")
        check(self.api.org_api("GET", "/conflicts")["total"] == 2, "the dry run synced something")
        b.click("#confirm-ok")
        b.wait("return document.getElementById('status').textContent.startsWith('Synced')", "the sync")
        check("jira/user" not in self.api.roles(a_account), "a still has jira/user after the sync")
        check("jira/user" in self.api.roles(c_account), "c has no jira/user after the sync")
        # The page shows the change: c's access now lists the role, a's does not.
        self.nav("accounts")
        for email, has in [("c@example.com", True), ("a@example.com", False)]:
            b.type("#accounts-email", email)
            b.click("#accounts-form button[type=submit]")
            b.wait("const h = document.querySelector('#account-detail h3'); return h && h.textContent === arguments[0];",
                   f"{email}'s account", email)
            access = b.text("#account-access")
            check(("jira/user" in access) == has, f"{email}'s access shows {access!r}")

    def rotate_token(self):
        b = self.b
        path = f"/directories/{self.api.directory}/tokens"
        spare = self.api.org_api("POST", path)
        old_id, old_secret = spare["id"], spare["token"]
        self.nav("directories")
        b.click(f"button.rotate[data-token='{old_id}']")
        b.find("#confirm")
        b.click("#confirm-ok")
        secret = b.wait("const e = document.getElementById('secret-value'); return e && e.value;", "the new secret")
        check(secret.startswith("scim_"), "the new secret is not a SCIM token")
        ids = {t["id"] for t in self.api.org_api("GET", path)["tokens"]}
        check(old_id not in ids, "the old token is still listed by the API")
        shown = set(b.js("return [...document.querySelectorAll('.token-id')].map(e => e.textContent)"))
        check(shown == ids, f"the page lists {shown}, the API {ids}")
        self.api.scim("GET", "/Users?count=1", token=old_secret, expect=(401,))
        self.api.scim("GET", "/Users?count=1", token=secret, expect=(200,))
        b.click("#secret-close")
        check(b.js("return document.getElementById('secret-value') === null"), "the secret stays in the page")

    def hostile_group_name_is_inert_text(self):
        b = self.b
        self.nav("conflicts")
        name = b.text(f"tr.conflict[data-group='{self.hostile}'] .group-name")
        check(name == HOSTILE, f"the group's name shows as {name!r}")
        self.open_review(self.hostile)
        check(b.text("#review-name") == HOSTILE, "the review's name")
        check(b.js("return document.querySelectorAll('img').length") == 0, "an <img> element is in the DOM")
        check(not b.alert_open(), "a dialog opened")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base", help="the functions, e.g. http://127.0.0.1:9000")
    p.add_argument("--docs-screenshots", type=pathlib.Path, help="write console-*.png there")
    args = p.parse_args()
    key = os.environ.get("OPERATOR_KEY")
    if not key:
        raise SystemExit("OPERATOR_KEY must be set")
    api = Api(args.base.rstrip("/"), key)
    browser = Browser()
    passed = failed = 0
    cases = Cases(api, browser, args.base.rstrip("/"), args.docs_screenshots)
    try:
        cases.setup()
        for case in [cases.login, cases.diagnose_invited_then_provisioned, cases.held_conflict_numbers_match_the_api,
                     cases.sync_through_the_dry_run, cases.rotate_token, cases.hostile_group_name_is_inert_text]:
            name = case.__name__
            started = time.monotonic()
            try:
                case()
                passed += 1
                print(f"ok      {name} ({time.monotonic() - started:.1f}s)", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported the same way
                failed += 1
                shot = FAILURES / f"{name}.png"
                try:
                    browser.screenshot(shot)
                    where = f" (screenshot: {shot.relative_to(ROOT)})"
                except Exception:  # noqa: BLE001 - a dialog or a dead browser: no screenshot
                    where = ""
                detail = str(e) if isinstance(e, Failure) else traceback.format_exc(limit=3)
                print(f"FAILED  {name}: {detail}{where}", flush=True)
    finally:
        browser.close()
        if cases.docs:
            for shot in sorted(cases.docs.glob("*.png")):
                shutil.move(shot, args.docs_screenshots / shot.name)
                print(f"wrote {args.docs_screenshots / shot.name}")
            shutil.rmtree(cases.docs, ignore_errors=True)
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
