#!/usr/bin/env python3
"""The web UI in headless Chromium, through chromium-driver and selenium.

Usage: ui_browser.py BASE_URL FIXTURE.json [--phase auth|open] [--steps A,B]
                     [--screenshots DIR] [--work DIR] [--list]

BASE_URL is the registry (http://127.0.0.1:PORT); FIXTURE.json is written by
ui-browser.sh and says what it pushed (users, passwords, the trusted key id,
package names). Each step is named; a failed step prints its name, what it
expected, the page's URL, and leaves a screenshot in --work; the other steps
still run. The last line is "N passed, N failed"; the exit code is 1 when a
step failed.

Every page the browser opens is audited: no alert open, `window.__xss`
undefined, no <script> but the page's own /assets/copy.*.js, no on*
attribute, no javascript: URL in href/src/action, no iframe/object/embed,
no resource from another origin, and no Content-Security-Policy violation in
the console (on the pages of ordinary packages: no console error at all).

Chromium runs as root, so it needs --no-sandbox; the background-networking
flags keep it from reaching for the network this machine does not have. The
browser and the driver are Debian's (/usr/bin/chromium, /usr/bin/chromedriver):
selenium is given both, so it never looks for or downloads a driver.
"""

import argparse
import base64
import json
import os
import re
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
# The screenshots' size (the viewport).
WIDTH, HEIGHT = 1280, 900

# What the hostile package holds (ui-browser.sh): none may run, each shows as
# text wherever the package's description is shown.
HOSTILE = [
    "<script>window.__xss=1</script>",
    "[click](javascript:window.__xss=2)",
    '<a href="javascript:window.__xss=3">',
    '<img src=x onerror="window.__xss=4">',
    '<svg onload="window.__xss=5">',
    '"><script>window.__xss=6</script>',
]
# The labels (tags) of the hostile package: the strings without whitespace.
HOSTILE_TAGS = [
    "<script>window.__xss=1</script>",
    "[click](javascript:window.__xss=2)",
    '<a/href="javascript:window.__xss=3">',
    '<img/src="x"/onerror="window.__xss=4">',
    '<svg/onload="window.__xss=5">',
    '"><script>window.__xss=6</script>',
]

# What audit() reads from a page, in one round trip.
AUDIT_SCRIPT = r"""
const origin = location.origin;
const foreign = performance.getEntriesByType('resource')
  .map(e => e.name).filter(n => !(n === origin || n.startsWith(origin + '/')));
const scripts = [...document.querySelectorAll('script')]
  .map(s => s.getAttribute('src') || ('inline: ' + s.textContent.slice(0, 80)));
const handlers = [];
const javascript = [];
const urlAttributes = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'srcdoc'];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    const name = a.name.toLowerCase();
    if (name.startsWith('on')) handlers.push(el.tagName + '[' + name + ']');
    if (urlAttributes.includes(name) &&
        a.value.replace(/[\u0000-\u0020]/g, '').toLowerCase().startsWith('javascript:'))
      javascript.push(el.tagName + '[' + name + '=' + a.value + ']');
  }
}
const embedded = [...document.querySelectorAll('iframe, frame, object, embed, base, meta[http-equiv]')]
  .map(e => e.outerHTML.slice(0, 120));
return {xss: typeof window.__xss === 'undefined' ? null : String(window.__xss),
        foreign, scripts, handlers, javascript, embedded,
        resources: performance.getEntriesByType('resource').length};
"""


class Failure(Exception):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


# --- HTTP without a browser (status codes, headers, tokens) ---------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(url, method="GET", user=None, password=None, headers=None, body=None):
    """(status, headers, body) of one request; redirects are not followed."""
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    if user is not None:
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
    try:
        with OPENER.open(request, timeout=20) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# --- the browser ----------------------------------------------------------------


class Browser:
    """One headless Chromium with its own fresh profile (cookies, storage)."""

    def __init__(self, name, base, work):
        self.name = name
        self.base = base
        self.work = work
        options = Options()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        if base.startswith("https://"):
            # The TLS phase's certificate is self-signed.
            options.add_argument("--ignore-certificate-errors")
        options.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix=f"profile-{name}-", dir=work))
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An alert stays open, so the audit sees it.
        options.set_capability("unhandledPromptBehavior", "ignore")
        service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(work, f"chromedriver-{name}.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.implicitly_wait(0)
        size = self.driver.execute_script("return [window.innerWidth, window.innerHeight]")
        if size != [WIDTH, HEIGHT]:
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            )

    def quit(self):
        self.driver.quit()

    # navigation

    def open(self, path, console="strict"):
        """Loads BASE+path and audits the page."""
        self.driver.get(self.base + path)
        self.audit(console)

    def click_and_load(self, element, console="strict"):
        """Clicks a link or submit button and waits for the next page."""
        self.act_and_load(element.click, f"clicking {describe(element)}", console)

    def enter_and_load(self, element, text, console="strict"):
        """Types TEXT and Enter into an input and waits for the next page."""
        self.act_and_load(lambda: element.send_keys(text + Keys.ENTER), f"typing {text!r} and Enter", console)

    def act_and_load(self, action, what, console="strict"):
        old = self.driver.find_element(By.TAG_NAME, "html")
        action()
        try:
            WebDriverWait(self.driver, 15).until(lambda _: gone(old))
        except TimeoutException:
            raise Failure(f"{what} loaded no new page (still {self.url})")
        WebDriverWait(self.driver, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        self.audit(console)

    def submit(self, form, console="strict"):
        """Submits FORM with its submit button."""
        self.click_and_load(self.one("button[type=submit], input[type=submit]", within=form), console)

    @property
    def url(self):
        return self.driver.current_url

    @property
    def path(self):
        parts = urlsplit(self.url)
        return parts.path + ("?" + parts.query if parts.query else "")

    # finding

    def all(self, selector, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector, within=None):
        found = self.all(selector, within)
        check(found, f"no element matches `{selector}` on {self.path}")
        return found[0]

    def text(self, selector, within=None):
        return self.one(selector, within).text.strip()

    def cards(self, selector):
        """The package names of the cards under SELECTOR (their a.package-link)."""
        return [self.text("a.package-link", card) for card in self.all(selector)]

    def link_to(self, selector, path):
        """The element under SELECTOR whose href is BASE+path."""
        for element in self.all(selector):
            if urlsplit(element.get_attribute("href") or "").path == path:
                return element
        hrefs = [urlsplit(e.get_attribute("href") or "").path for e in self.all(selector)]
        raise Failure(f"no `{selector}` links to {path} on {self.path} (links: {hrefs})")

    # the audit

    def audit(self, console="strict"):
        """The checks every page passes; console is strict (no error at all),
        csp (only Content-Security-Policy reports count) or 404 (as csp, for
        a page expected to answer 404; otherwise a 404 fails)."""
        driver = self.driver
        try:
            alert = driver.switch_to.alert
            text = alert.text
            alert.dismiss()
            raise Failure(f"an alert opened on {self.path}: {text!r}")
        except NoAlertPresentException:
            pass
        found = driver.execute_script(AUDIT_SCRIPT)
        where = self.path
        check(found["xss"] is None, f"a hostile script ran on {where}: window.__xss = {found['xss']}")
        own = [s for s in found["scripts"] if re.fullmatch(r"/assets/copy\.[0-9a-z]+\.js", s)]
        check(len(own) == len(found["scripts"]) and len(own) <= 1,
              f"scripts other than the page's own on {where}: {found['scripts']}")
        check(not found["handlers"], f"event handler attributes on {where}: {found['handlers'][:5]}")
        check(not found["javascript"], f"javascript: URLs on {where}: {found['javascript'][:5]}")
        check(not found["embedded"], f"embedded or framing elements on {where}: {found['embedded'][:3]}")
        check(not found["foreign"], f"requests to another origin from {where}: {found['foreign']}")
        messages = driver.get_log("browser")
        missing = [m for m in messages if m["message"].startswith(self.url + " ") and "status of 404" in m["message"]]
        if missing and console != "404":
            raise Failure(f"{where} answered 404: the page is not there")
        csp = [m["message"] for m in messages if "Content Security Policy" in m["message"]]
        check(not csp, f"Content-Security-Policy violations on {where}: {csp[:3]}")
        if console == "strict":
            errors = [m["message"] for m in messages if m["level"] == "SEVERE"]
            check(not errors, f"console errors on {where}: {errors[:3]}")

    def screenshot(self, directory, name):
        if not directory:
            return
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        check(self.driver.save_screenshot(path), f"cannot save the screenshot {path}")
        print(f"    screenshot {name} ({self.path})")


def gone(element):
    """Whether ELEMENT has left the document: the page it was on was replaced.

    Chromium answers a query about a node of a page being torn down with
    either a stale element reference or, in a short window during the
    navigation, an inspector error naming the node ("Node with given id does
    not belong to the document"); both mean the old page is gone.
    """
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise


def describe(element):
    return f"<{element.tag_name}> {element.text.strip()[:40]!r}"


def wait_for(browser, condition, what, seconds=10):
    try:
        return WebDriverWait(browser.driver, seconds).until(lambda d: condition())
    except TimeoutException:
        raise Failure(f"{what} (waited {seconds} s on {browser.path})")


def number(text):
    """The first integer in TEXT (1,234 is 1234)."""
    match = re.search(r"\d[\d,]*", text)
    check(match, f"no number in {text!r}")
    return int(match.group().replace(",", ""))


# --- the steps ------------------------------------------------------------------


class Run:
    """What the steps share: the fixture, the browsers, where screenshots go."""

    def __init__(self, base, fixture, work, screenshots):
        self.base = base
        self.fixture = fixture
        self.work = work
        self.screenshots = screenshots
        self.browsers = {}

    def browser(self, name):
        """The browser NAME ("visitor": anonymous; "alice": signs in),
        started on first use."""
        if name not in self.browsers:
            self.browsers[name] = Browser(name, self.base, self.work)
        return self.browsers[name]

    def close(self):
        for browser in self.browsers.values():
            browser.quit()

    def api_total(self, query, user=None):
        """`total` of GET /v1/packages/search?QUERY (anonymous unless USER)."""
        password = self.fixture[user]["password"] if user else None
        status, _, body = http(f"{self.base}/v1/packages/search?{query}", user=(self.fixture[user]["user"] if user else None), password=password)
        check(status == 200, f"/v1/packages/search?{query} answered {status}")
        return json.loads(body)["total"]

    def sign_in(self, browser, user, password, start="/"):
        """Signs BROWSER in from START through #nav-sign-in and the form."""
        browser.open(start)
        browser.click_and_load(browser.one("#nav-sign-in"))
        check(browser.path.startswith("/sign-in"), f"#nav-sign-in led to {browser.path}, not /sign-in")
        form = browser.one("form#sign-in-form")
        browser.one("input[name=username]", form).send_keys(user)
        browser.one("input[name=password]", form).send_keys(password)
        browser.submit(form)

    def signed_in(self, browser):
        """Signs alice in unless she is (for the steps that need her)."""
        browser.open("/")
        if not browser.all("#nav-user"):
            alice = self.fixture["alice"]
            self.sign_in(browser, alice["user"], alice["password"])
            check(browser.all("#nav-user"), "alice could not sign in (see the sign-in step)")


STEPS = []


def step(name, phase="auth"):
    def register(function):
        STEPS.append((name, phase, function))
        return function

    return register


@step("security-headers")
def security_headers(run):
    """Every page and asset carries the security headers; the CSP allows no
    inline script; /v1/ sends no CORS header by default."""
    status, headers, body = http(run.base + "/")
    check(status == 200, f"/ answered {status}")
    check(headers.get("content-type", "").startswith("text/html"), f"/ is {headers.get('content-type')}")
    csp = headers.get("content-security-policy", "")
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"]:
        check(directive in csp, f"the CSP lacks {directive!r}: {csp!r}")
    check("unsafe-inline" not in csp and "unsafe-eval" not in csp, f"the CSP allows inline or eval: {csp!r}")
    check(headers.get("x-frame-options", "").upper() == "DENY", f"X-Frame-Options: {headers.get('x-frame-options')}")
    check(headers.get("x-content-type-options") == "nosniff", "no X-Content-Type-Options: nosniff")
    check(headers.get("referrer-policy"), "no Referrer-Policy")
    html = body.decode()
    assets = re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)
    check(any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets),
          f"the page links no stylesheet or script of its own: {assets}")
    for asset in set(assets):
        status, asset_headers, _ = http(run.base + asset)
        check(status == 200, f"{asset} answered {status}")
        check("max-age" in asset_headers.get("cache-control", ""),
              f"{asset} has no cache lifetime: {asset_headers.get('cache-control')}")
        check(asset_headers.get("x-content-type-options") == "nosniff", f"{asset} lacks nosniff")
    status, headers, _ = http(run.base + "/v1/packages/search?q=a", headers={"Origin": "https://elsewhere.example"})
    check(status == 200, f"/v1/packages/search answered {status}")
    check("access-control-allow-origin" not in headers,
          f"/v1/ allows another origin by default: {headers.get('access-control-allow-origin')}")


@step("home")
def home(run):
    """The home page: search box, both lists, the counts (as the API counts
    them for an anonymous visitor), same-origin, no console error."""
    browser = run.browser("visitor")
    browser.open("/")
    check("Sentinel" in browser.driver.title, f"title {browser.driver.title!r}")
    browser.one("#home-search input[name=q]")
    browser.one("form.top-search input[name=q]")
    popular, recent = browser.cards("#popular li.card"), browser.cards("#recent li.card")
    check(popular and recent, f"#popular {popular} / #recent {recent}: empty")
    check(run.fixture["private"] not in popular + recent, f"the anonymous home page lists {run.fixture['private']}")
    check(popular[:2] == ["team/summariser", "team/web-searcher"],
          f"#popular starts {popular[:2]}; the fixture downloaded team/summariser twice, team/web-searcher once")
    counts = [number(t.text) for t in browser.all("#counts strong")]
    expected = [run.api_total("kind=agent"), run.api_total("kind=stack")]
    check(counts == expected, f"#counts says {counts} agents/stacks, the API {expected}")
    resources = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
    check(any(r.endswith(".css") for r in resources) and any(r.endswith(".js") for r in resources),
          f"the stylesheet and script were not loaded: {resources}")
    check(browser.all("#nav-sign-in"), "no #nav-sign-in with authentication on")
    card = browser.all("#popular li.card")[0]
    for selector in ["a.package-link", ".badge.kind"]:
        browser.one(selector, card)
    browser.screenshot(run.screenshots, "ui-home.png")


@step("search-and-filter")
def search_and_filter(run):
    """Type in the home page's box, get results, narrow them by a capability
    facet and by the form's signed checkbox; an empty search says so."""
    browser = run.browser("visitor")
    word = run.fixture["word"]
    browser.open("/")
    box = browser.one("#home-search input[name=q]")
    box.send_keys(word)
    browser.submit(browser.one("#home-search"))
    check(browser.path.startswith("/search"), f"the search went to {browser.path}")
    found = browser.cards("#results li.card")
    expected = {"team/web-searcher", "team/summariser", "team/code-reviewer", "team/research-team"}
    check(set(found) == expected, f"searching {word!r} found {found}, expected {sorted(expected)}")
    total = number(browser.text("#result-count"))
    check(total == len(found), f"#result-count says {total}, {len(found)} cards shown")
    kinds = {a.text.split()[0]: number(browser.text(".count", a)) for a in browser.all("#facet-kind a")}
    check(kinds.get("agent") == 3 and kinds.get("stack") == 1, f"#facet-kind says {kinds}")
    browser.screenshot(run.screenshots, "ui-search.png")
    facet = next((a for a in browser.all("#facet-capability a") if a.text.split()[0] == "summarise"), None)
    check(facet is not None, f"no `summarise` in #facet-capability: {[a.text for a in browser.all('#facet-capability a')]}")
    facet_count = number(browser.text(".count", facet))
    browser.click_and_load(facet)
    narrowed = browser.cards("#results li.card")
    check(set(narrowed) == {"team/web-searcher", "team/summariser"},
          f"the capability facet `summarise` left {narrowed}")
    check(number(browser.text("#result-count")) == facet_count == len(narrowed) < total,
          f"after the facet: #result-count {browser.text('#result-count')!r}, facet said {facet_count}, {len(narrowed)} cards, before {total}")
    for card in browser.all("#results li.card"):
        chips = [c.text for c in browser.all(".chip", card)]
        check("summarise" in chips, f"a card without the summarise chip: {chips}")
    # The form: the signed checkbox.
    form = browser.one("#search-form")
    check(browser.one("input[name=q]", form).get_attribute("value") == word, "the form does not keep the query")
    Select(browser.one("select[name=sort]", form))
    Select(browser.one("select[name=kind]", form))
    signed = browser.one("input[name=signed]", form)
    if not signed.is_selected():
        signed.click()
    browser.submit(form)
    check("signed=true" in browser.path, f"the signed checkbox is not in the query: {browser.path}")
    only = browser.cards("#results li.card")
    check(only == ["team/web-searcher"], f"signed packages: {only}, expected team/web-searcher")
    browser.one(".badge.signed", browser.one("#results li.card"))
    browser.open("/search?q=zzzznothinghere")
    browser.one("#no-results")
    check(not browser.all("#results li.card"), "results for a search that matches nothing")


@step("package-and-version")
def package_and_version(run):
    """Open a package from a search, read its page, open an older version."""
    browser = run.browser("visitor")
    package = run.fixture["signed"]["package"]
    browser.open("/search?q=" + quote(run.fixture["word"]))
    browser.click_and_load(browser.link_to("#results li.card a.package-link", f"/packages/{package}"))
    check(browser.path == f"/packages/{package}", f"the card led to {browser.path}")
    check(browser.text("h1#package-name") == package, f"h1#package-name: {browser.text('h1#package-name')!r}")
    check("1.1.0" in browser.text("#package-version"),
          f"the newest non-deprecated version is 1.1.0; #package-version says {browser.text('#package-version')!r}")
    readme = browser.one("#readme")
    check(browser.text("h1, h2", readme) == "Web searcher", "the README's heading is not rendered")
    check(browser.all("strong", readme) and browser.all("li", readme) and browser.all("pre code", readme),
          "the README's bold, list or code block is not rendered")
    facts = browser.text("#facts")
    for fact in ["web-search", "summarise", "ollama", "llama3.1:8b", "8080", "/healthz", "Apache-2.0",
                 "web_searcher", "https://example.com/team/web-searcher"]:
        check(fact in facts, f"#facts lacks {fact!r}: {facts!r}")
    rows = {browser.text("a.version-link", row): row for row in browser.all("#versions tr.version")}
    check(list(rows) in (["1.1.0", "1.0.0"], ["1.0.0", "1.1.0"]),
          f"#versions lists {list(rows)}, expected 1.1.0 and 1.0.0 in semver order")
    check(browser.all(".badge.signed", rows["1.1.0"]) and not browser.all(".badge.deprecated", rows["1.1.0"]),
          "1.1.0's row: signed, not deprecated")
    check(browser.all(".badge.deprecated", rows["1.0.0"]) and not browser.all(".badge.signed", rows["1.0.0"]),
          "1.0.0's row: deprecated, not signed")
    browser.one("#downloads-chart svg")
    check(re.match(r"sha256:[0-9a-f]{12}", browser.text("#digest")), f"#digest: {browser.text('#digest')!r}")
    check(browser.text("#size"), "#size is empty")
    pull = browser.text("#cmd-agent-pull code")
    check(pull.startswith("agent pull") and package in pull, f"#cmd-agent-pull: {pull!r}")
    oras = browser.text("#cmd-oras-pull code")
    check(oras.startswith("oras pull") and package in oras, f"#cmd-oras-pull: {oras!r}")
    check(not browser.all("#cmd-stack-pull"), "an agent's page offers a stack pull")
    browser.screenshot(run.screenshots, "ui-package.png")
    browser.click_and_load(browser.one("a.version-link", rows["1.0.0"]))
    check(browser.path == f"/packages/{package}/1.0.0", f"the version link led to {browser.path}")
    check("1.0.0" in browser.text("#package-version"), f"#package-version: {browser.text('#package-version')!r}")
    check(run.fixture["deprecated"]["version"] == "1.0.0", "fixture")
    for path in [f"/packages/{package}/9.9.9", "/packages/team/no-such-package"]:
        status, headers, _ = http(run.base + path)
        check(status == 404, f"{path} answered {status}, not 404")
        check("content-security-policy" in headers, f"the 404 page of {path} has no CSP")
        browser.open(path, console="404")
        browser.one("#error-message")


@step("dependencies")
def dependencies(run):
    """A stack's page links its members; a member's page links the stack."""
    browser = run.browser("visitor")
    stack, member = run.fixture["stack"], run.fixture["member"]
    browser.open(f"/packages/{stack}")
    browser.link_to("#dependencies a", "/packages/team/summariser")
    command = browser.text("#cmd-stack-pull code")
    check(command.startswith("agent stack pull") and "--extract-agents" in command and stack in command,
          f"#cmd-stack-pull: {command!r}")
    browser.click_and_load(browser.link_to("#dependencies a", f"/packages/{member}"))
    check(browser.text("h1#package-name") == member, f"the dependency link led to {browser.path}")
    browser.click_and_load(browser.link_to("#dependents a", f"/packages/{stack}"))
    check(browser.text("h1#package-name") == stack, f"the dependent link led to {browser.path}")


@step("signature-badge")
def signature_badge(run):
    """The signed version's signature is trusted, with the key's id; a
    signature by a key the policy does not list is untrusted."""
    browser = run.browser("visitor")
    signed = run.fixture["signed"]
    browser.open(f"/packages/{signed['package']}/{signed['version']}")
    signatures = browser.all("#signatures li.signature")
    check(len(signatures) == 1, f"{len(signatures)} signatures listed on {browser.path}, expected 1")
    browser.one(".badge.trusted", signatures[0])
    check(not browser.all(".badge.untrusted", signatures[0]), "a trusted signature also marked untrusted")
    key_id = browser.text(".key-id", signatures[0])
    expected = run.fixture["key_id"]
    check(len(key_id) >= 8 and (key_id in expected or expected in key_id),
          f".key-id says {key_id!r}, the key is {expected}")
    browser.open(f"/packages/{signed['package']}/1.0.0")
    check(not browser.all("#signatures li.signature"), "the unsigned 1.0.0 lists signatures")
    untrusted = run.fixture["untrusted"]
    browser.open(f"/packages/{untrusted}")
    signatures = browser.all("#signatures li.signature")
    check(signatures and all(browser.all(".badge.untrusted", s) for s in signatures)
          and not browser.all("#signatures .badge.trusted"),
          f"{untrusted}: its one signature, by a key no policy lists, should be untrusted")


@step("copy-command")
def copy_command(run):
    """The copy button puts the command on the clipboard and says so."""
    browser = run.browser("visitor")
    package = run.fixture["signed"]["package"]
    browser.open(f"/packages/{package}")
    browser.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": run.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    button = browser.one("#cmd-agent-pull button.copy")
    command = button.get_attribute("data-copy")
    shown = browser.text("#cmd-agent-pull code")
    check(command and " ".join(command.split()) == " ".join(shown.split()),
          f"the button copies {command!r}, the page shows {shown!r}")
    button.click()
    wait_for(browser, lambda: "copied" in (button.get_attribute("class") or "") or button.text == "Copied",
             "the copy button never said Copied")
    pasted = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, e => done('clipboard error: ' + e));")
    check(pasted == command, f"the clipboard holds {pasted!r}, not {command!r}")


@step("sign-in")
def sign_in(run):
    """A wrong password is refused on the form; alice's is accepted; the
    session cookie is HttpOnly and SameSite=Strict; a sign-in without the
    form's CSRF token is refused."""
    browser = run.browser("alice")
    alice = run.fixture["alice"]
    run.sign_in(browser, alice["user"], "not-" + alice["password"])
    browser.one(".notice.bad")
    check(browser.all("form#sign-in-form") and not browser.all("#nav-user"), "a wrong password signed in")
    form = browser.one("form#sign-in-form")
    check(browser.one("input[name=csrf]", form).get_attribute("value"), "the sign-in form has no CSRF token")
    for name, value in [("username", alice["user"]), ("password", alice["password"])]:
        field = browser.one(f"input[name={name}]", form)
        field.clear()
        field.send_keys(value)
    browser.submit(form)
    check(browser.path == "/", f"signing in led to {browser.path}, not /")
    check(browser.text("#nav-user") == alice["user"], "#nav-user does not name alice")
    check(not browser.all("#nav-sign-in"), "#nav-sign-in still shown when signed in")
    session = [c for c in browser.driver.get_cookies() if c.get("httpOnly")]
    check(session, f"no HttpOnly cookie after signing in: {browser.driver.get_cookies()}")
    check(all(c.get("sameSite") == "Strict" for c in session), f"the session cookie is not SameSite=Strict: {session}")
    check(not any(c.get("secure") for c in session), "a Secure cookie over plain HTTP (it would never be sent)")
    # Without the form's CSRF token (and without its cookies), the right
    # password opens no session: whatever cookies the answer sets, they do
    # not open /settings.
    body = f"username={alice['user']}&password={quote(alice['password'])}".encode()
    status, headers, _ = http(run.base + "/sign-in", method="POST", body=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    cookies = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie") or [])
    status, _, _ = http(run.base + "/settings", headers={"Cookie": cookies} if cookies else {})
    check(status != 200, "a sign-in without the CSRF token opened a session (/settings answered 200)")


@step("private-package")
def private_package(run):
    """Alice finds and opens her private package; an anonymous visitor gets
    a 404 for it and does not find it."""
    browser = run.browser("alice")
    run.signed_in(browser)
    private = run.fixture["private"]
    browser.enter_and_load(browser.one("form.top-search input[name=q]"), "secret")
    check(browser.path.startswith("/search"), f"the header search went to {browser.path}")
    browser.click_and_load(browser.link_to("#results li.card a.package-link", f"/packages/{private}"))
    check(browser.text("h1#package-name") == private, f"alice's private package page: {browser.path}")
    visitor = run.browser("visitor")
    visitor.open(f"/packages/{private}", console="404")
    visitor.one("#error-message")
    check(not visitor.all("h1#package-name"), "the anonymous visitor sees the private package")
    status, _, _ = http(f"{run.base}/packages/{private}")
    check(status == 404, f"/packages/{private} answered {status} to an anonymous visitor, not 404")
    visitor.open("/search?q=secret")
    check(private not in visitor.cards("#results li.card"), "the anonymous search finds the private package")
    visitor.one("#no-results")
    visitor.open("/")
    check(private not in visitor.cards("#popular li.card") + visitor.cards("#recent li.card"),
          "the anonymous home page lists the private package")


@step("tokens")
def tokens(run):
    """Alice creates a token on /settings, it works on /v2/, she revokes it,
    it stops working."""
    browser = run.browser("alice")
    run.signed_in(browser)
    alice = run.fixture["alice"]["user"]
    browser.click_and_load(browser.one("#nav-user"))
    check(browser.path == "/settings", f"#nav-user led to {browser.path}")
    form = browser.one("form#create-token-form")
    check(browser.one("input[name=csrf]", form).get_attribute("value"), "the token form has no CSRF token")
    browser.one("input[name=name]", form).send_keys("ui-browser")
    Select(browser.one("select[name=access]", form)).select_by_value("read")
    browser.submit(form)
    browser.one(".notice.good")
    token = browser.text("#new-token .command code")
    check(token.startswith("sntl_"), f"#new-token shows {token!r}")
    browser.one("#new-token button.copy")
    row = next((r for r in browser.all("#tokens tr.token") if browser.text(".token-name", r) == "ui-browser"), None)
    check(row is not None, "the new token is not listed in #tokens")
    token_id = browser.text(".token-id", row)
    check(token_id and token_id in token, f"the listed id {token_id!r} is not the token's")
    status, _, _ = http(run.base + "/v2/", user=alice, password=token)
    check(status == 200, f"/v2/ with the new token answered {status}")
    status, _, _ = http(run.base + "/v2/")
    check(status == 401, f"/v2/ without credentials answered {status}")
    revoke = browser.one("button.revoke", row)
    check(browser.one("input[name=csrf]", revoke.find_element(By.XPATH, "./ancestor::form")).get_attribute("value"),
          "the revoke form has no CSRF token")
    browser.click_and_load(revoke)
    browser.one(".notice.good")
    check(all(browser.text(".token-name", r) != "ui-browser" for r in browser.all("#tokens tr.token")),
          "the revoked token is still listed")
    status, _, _ = http(run.base + "/v2/", user=alice, password=token)
    check(status == 401, f"/v2/ with the revoked token answered {status}")


@step("sign-out")
def sign_out(run):
    """Signing out ends the session: the private package is gone, /settings
    asks to sign in."""
    browser = run.browser("alice")
    run.signed_in(browser)
    browser.click_and_load(browser.one("#sign-out"))
    check(browser.path == "/", f"signing out led to {browser.path}")
    browser.one("#nav-sign-in")
    check(not browser.all("#nav-user"), "#nav-user still shown after signing out")
    browser.open("/settings")
    check(browser.path.startswith("/sign-in") and "next=" in browser.path,
          f"/settings signed out led to {browser.path}, not /sign-in?next=...")
    browser.open(f"/packages/{run.fixture['private']}", console="404")
    check(not browser.all("h1#package-name"), "the private package is still shown after signing out")


def assert_hostile_shown(browser, selector):
    text = browser.text(selector)
    for hostile in HOSTILE:
        check(hostile in text, f"{hostile!r} is not shown as text in {selector} on {browser.path}")


@step("xss-home")
def xss_home(run):
    """The hostile package's card on the home page: text, nothing ran."""
    browser = run.browser("visitor")
    browser.open("/")
    hostile = run.fixture["hostile"]
    cards = [c for c in browser.all("#recent li.card") if browser.text("a.package-link", c) == hostile]
    check(cards, f"{hostile} is not among the recent packages")
    text = browser.text(".description", cards[0])
    for string in HOSTILE:
        check(string in text, f"{string!r} is not shown as text in the card's description: {text!r}")
    chips = [c.text for c in browser.all(".chip", cards[0])]
    check("<script>window.__xss=1</script>" in chips, f"the hostile capability is not a chip's text: {chips}")


@step("xss-package")
def xss_package(run):
    """The hostile package's pages: the strings are text, nothing ran, the
    README holds no active content."""
    browser = run.browser("visitor")
    hostile = run.fixture["hostile"]
    for path in [f"/packages/{hostile}", f"/packages/{hostile}/6.6.6"]:
        browser.open(path, console="csp")
        check(browser.text("h1#package-name") == hostile, f"{path} is not the hostile package's page")
        body = browser.text("body")
        for string in HOSTILE + HOSTILE_TAGS:
            check(string in body, f"{string!r} is not shown as text on {path}")
        readme = browser.one("#readme")
        check(browser.text("h1, h2", readme) == "Hostile README", "the hostile README's heading is not rendered")
        for element in browser.all("a", readme):
            href = (element.get_attribute("href") or "").strip().lower()
            check(not href.startswith("javascript:"), f"a javascript: link in the README: {href}")
        # Fire the events of every handler the hostile README tries on each
        # of its elements: a handler that survived would run now.
        browser.driver.execute_script(
            "for (const el of document.querySelectorAll('#readme *'))"
            "  for (const type of ['mouseover', 'mouseenter', 'focus', 'load', 'error'])"
            "    el.dispatchEvent(new Event(type));")
        browser.audit(console="csp")


@step("files")
def files(run):
    """A version's files: the list from the package page, a Markdown file
    rendered, the definition shown as text, the README's image and an image
    file's page loaded from the package; the hostile README's file page, and
    its SVG opened on its own, run nothing."""
    browser = run.browser("visitor")
    package = run.fixture["signed"]["package"]
    browser.open(f"/packages/{package}")
    browser.click_and_load(browser.one("a#files-link"))
    listed = [link.text for link in browser.all("a.file-link")]
    check("README.md" in listed and "agent.yaml" in listed, f"{browser.path} lists {listed}")
    browser.click_and_load(browser.link_to("a.file-link", f"{browser.path}/README.md"))
    check(browser.text("#file-path") == "README.md", f"{browser.path} is not README.md's page")
    browser.one("#file-markdown h2")
    browser.click_and_load(browser.one("a#all-files"))
    browser.click_and_load(browser.link_to("a.file-link", f"{browser.path}/agent.yaml"))
    text = browser.text("#file-text")
    check("name: web-searcher" in text, f"agent.yaml shows {text[:80]!r}")
    # The README's image loads from the package, and so does an image's page.
    browser.open(f"/packages/{package}")
    image = browser.one("#readme img")
    check(urlsplit(image.get_attribute("src")).path.endswith("/raw/docs/flow.png"),
          f"the README's image loads from {image.get_attribute('src')}")
    check(loaded_width(browser, image) == 320, f"the README's image on {browser.path} did not load")
    version = run.fixture["signed"]["version"]
    browser.open(f"/packages/{package}/{version}/files/docs/flow.png")
    check(loaded_width(browser, browser.one("#file-image")) == 320, f"the image on {browser.path} did not load")
    hostile = run.fixture["hostile"]
    browser.open(f"/packages/{hostile}/6.6.6/files/README.md", console="csp")
    browser.driver.execute_script(
        "for (const el of document.querySelectorAll('#file-markdown *'))"
        "  for (const type of ['mouseover', 'mouseenter', 'focus', 'load', 'error'])"
        "    el.dispatchEvent(new Event(type));")
    browser.audit(console="csp")
    # An SVG image holding scripts, opened on its own: its policy runs none.
    browser.driver.get(f"{run.base}/packages/{hostile}/6.6.6/raw/evil.svg")
    try:
        alert = browser.driver.switch_to.alert
        text = alert.text
        alert.dismiss()
        raise Failure(f"an alert opened on {browser.path}: {text!r}")
    except NoAlertPresentException:
        pass
    check(browser.all("rect"), f"{browser.path} is not the SVG image")
    ran = browser.driver.execute_script("return window.__xss === undefined ? null : window.__xss")
    check(ran is None, f"the SVG's script ran when it was opened on its own: window.__xss = {ran}")


def loaded_width(browser, image):
    """The natural width of IMAGE once it has loaded (0 if it failed), waiting
    up to 10 s."""
    script = "return arguments[0].complete ? arguments[0].naturalWidth : null"
    try:
        WebDriverWait(browser.driver, 10).until(lambda d: d.execute_script(script, image) is not None)
    except TimeoutException:
        return 0
    return browser.driver.execute_script(script, image)


@step("xss-search")
def xss_search(run):
    """A search listing the hostile package, and hostile strings in the
    query, the filters and the facets: text, nothing ran."""
    browser = run.browser("visitor")
    hostile = run.fixture["hostile"]
    browser.open("/search?q=hostile", console="csp")
    cards = [c for c in browser.all("#results li.card") if browser.text("a.package-link", c) == hostile]
    check(cards, "the search for `hostile` does not list it")
    text = browser.text(".description", cards[0])
    for string in HOSTILE:
        check(string in text, f"{string!r} is not shown as text in the search's card: {text!r}")
    for name, value in [("q", HOSTILE[5]), ("tag", HOSTILE_TAGS[0]), ("capability", HOSTILE[5]),
                        ("author", HOSTILE[3]), ("sort", HOSTILE[0]), ("kind", HOSTILE[5])]:
        path = f"/search?{name}={quote(value)}"
        browser.driver.get(run.base + path)
        browser.audit(console="csp")
        if name in ("q", "tag", "capability", "author"):
            field = browser.one(f"#search-form [name={name}]")
            check(field.get_attribute("value") == value,
                  f"the form's {name} does not hold the query's text: {field.get_attribute('value')!r}")
    browser.open("/search?tag=" + quote(HOSTILE_TAGS[0]), console="csp")
    check(hostile in browser.cards("#results li.card"), "the hostile tag does not find the hostile package")
    facet = [a for a in browser.all("#facet-capability a") if a.text.startswith("<script>")]
    check(facet, "the hostile capability is not a facet's text")
    browser.click_and_load(facet[0], console="csp")
    check(hostile in browser.cards("#results li.card"), "the hostile capability's facet does not find the package")


@step("layout")
def layout(run):
    """No page is wider than the window, on a desktop or a phone: a long
    code line or a wide table in a README scrolls inside its own box."""
    browser = run.browser("visitor")
    pages = ["/", "/search?q=sentinelui", "/packages/team/web-searcher",
             "/packages/team/web-searcher/1.0.0", "/packages/team/research-team",
             "/packages/" + run.fixture["hostile"], "/repositories", "/repositories/team/web-searcher"]
    try:
        for width, height in [(WIDTH, HEIGHT), (390, 844)]:
            browser.driver.set_window_size(width, height)
            for path in pages:
                browser.open(path, console="csp")
                wide, window = browser.driver.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth];")
                check(wide <= window, f"{path} is {wide} px wide in a {window} px window ({width}x{height})")
    finally:
        browser.driver.set_window_size(WIDTH, HEIGHT)


@step("open-registry", phase="open")
def open_registry(run):
    """Authentication off: no sign-in link, every package listed and open."""
    browser = run.browser("visitor")
    browser.open("/")
    check(not browser.all("#nav-sign-in") and not browser.all("#nav-user"),
          "a sign-in link or a user on a registry without authentication")
    counts = [number(t.text) for t in browser.all("#counts strong")]
    expected = [run.api_total("kind=agent"), run.api_total("kind=stack")]
    check(counts == expected, f"#counts says {counts} agents/stacks, the API {expected}")
    check(run.fixture["private"] in browser.cards("#recent li.card"),
          "an open registry's home page does not list every package")


@step("open-package", phase="open")
def open_package(run):
    """Authentication off: search and a package page work for anyone."""
    browser = run.browser("visitor")
    browser.open("/search?q=" + quote(run.fixture["word"]))
    check(run.fixture["private"] in browser.cards("#results li.card"), "the open registry's search misses a package")
    browser.open(f"/packages/{run.fixture['private']}")
    check(browser.text("h1#package-name") == run.fixture["private"], "the package page is missing")


@step("tls-session", phase="tls")
def tls_session(run):
    """Over TLS: signing in sets a session cookie that is Secure, HttpOnly
    and SameSite=Strict; signing out ends it."""
    browser = run.browser("alice-tls")
    alice = run.fixture["alice"]
    run.sign_in(browser, alice["user"], alice["password"])
    check(browser.text("#nav-user") == alice["user"], "alice could not sign in over TLS")
    session = [c for c in browser.driver.get_cookies() if c.get("httpOnly")]
    check(session and all(c.get("secure") for c in session),
          f"over TLS the session cookie is not Secure: {browser.driver.get_cookies()}")
    check(all(c.get("sameSite") == "Strict" for c in session), f"the session cookie is not SameSite=Strict: {session}")
    browser.click_and_load(browser.one("#sign-out"))
    browser.one("#nav-sign-in")


# --- running ----------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?")
    parser.add_argument("fixture", nargs="?")
    parser.add_argument("--phase", choices=["auth", "open", "tls"], default="auth")
    parser.add_argument("--steps", default="", help="comma-separated step names (default: all of the phase)")
    parser.add_argument("--screenshots", default="", help="directory for the screenshots (empty: none)")
    parser.add_argument("--work", default=None, help="directory for profiles, logs, failure screenshots")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    args = parser.parse_args()
    if args.list:
        for name, phase, function in STEPS:
            print(f"{name:20} {phase:5} {' '.join(function.__doc__.split())}")
        return 0
    if not (args.base and args.fixture):
        parser.error("BASE_URL and FIXTURE.json are needed")
    wanted = [s for s in args.steps.split(",") if s]
    unknown = set(wanted) - {name for name, _, _ in STEPS}
    if unknown:
        print(f"unknown steps: {sorted(unknown)} (--list lists them)", file=sys.stderr)
        return 2
    fixture = json.load(open(args.fixture))
    work = args.work or tempfile.mkdtemp(prefix="ui-browser-")
    os.makedirs(work, exist_ok=True)
    run = Run(args.base.rstrip("/"), fixture, work, args.screenshots)
    passed = failed = 0
    try:
        for name, phase, function in STEPS:
            if phase != args.phase or (wanted and name not in wanted):
                continue
            started = time.monotonic()
            try:
                function(run)
            except Exception as error:
                failed += 1
                kind = "" if isinstance(error, Failure) else f"{type(error).__name__}: "
                message = str(error).strip().split("\n")[0]
                print(f"FAILED {name}: {kind}{message}")
                for label, browser in run.browsers.items():
                    try:
                        shot = os.path.join(work, f"failed-{name}-{label}.png")
                        browser.driver.save_screenshot(shot)
                        print(f"    {label} was on {browser.url} (screenshot {shot})")
                    except Exception:
                        pass
                if not isinstance(error, Failure):
                    own = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == __file__]
                    for frame in own[-3:]:
                        print(f"    at line {frame.lineno} in {frame.name}: {frame.line}")
            else:
                passed += 1
                print(f"ok  {name} ({time.monotonic() - started:.1f} s)")
    finally:
        run.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
