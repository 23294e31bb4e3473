// Headless Chromium (Debian's, never a downloaded build), the demo page, and DevTools virtual
// WebAuthn authenticators.

import { mkdirSync, copyFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Screenshots, relative to the repository root. */
export const SCREENSHOT_DIR = join(REPO, "target", "e2e");

export const CHROMIUM = process.env.PASSKEYD_E2E_CHROMIUM || "/usr/bin/chromium";

/** How long one ceremony on the page may take before the test says where it stuck. */
const CEREMONY_TIMEOUT_MS = 20_000;

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A new browser context on the demo page of `server`, with the WebAuthn domain of DevTools
 * enabled (no authenticator yet). Resolves to { context, page, cdp, consoleErrors }.
 */
export async function openDemo(browser, server) {
  const context = await browser.newContext({
    viewport: { width: 720, height: 640 },
    deviceScaleFactor: 1,
    colorScheme: "light",
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") {
      consoleErrors.push(message.text());
    }
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await page.goto(`${server.url}/`);
  return { context, page, cdp, consoleErrors };
}

/** The authenticators the scenarios use, as DevTools `VirtualAuthenticatorOptions`. */
export const AUTHENTICATORS = {
  /** A platform authenticator: Windows Hello, Touch ID, Android. */
  platform: {
    protocol: "ctap2",
    transport: "internal",
    hasResidentKey: true,
    hasUserVerification: true,
    isUserVerified: true,
    automaticPresenceSimulation: true,
  },
  /** A CTAP2 security key with a PIN that keeps discoverable credentials (passkeys). */
  roamingPasskey: {
    protocol: "ctap2",
    transport: "usb",
    hasResidentKey: true,
    hasUserVerification: true,
    isUserVerified: true,
    automaticPresenceSimulation: true,
  },
  /** A CTAP2 security key that keeps no discoverable credentials and has no PIN. */
  securityKey: {
    protocol: "ctap2",
    transport: "usb",
    hasResidentKey: false,
    hasUserVerification: false,
    automaticPresenceSimulation: true,
  },
  /** An old U2F (CTAP1) security key. */
  u2f: {
    protocol: "u2f",
    transport: "usb",
    hasResidentKey: false,
    hasUserVerification: false,
    automaticPresenceSimulation: true,
  },
};

/** Adds a virtual authenticator; resolves to its ID. */
export async function addAuthenticator(cdp, options) {
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", { options });
  return authenticatorId;
}

/** The credentials an authenticator holds, with `id` in base64url as passkeyd shows it. */
export async function authenticatorCredentials(cdp, authenticatorId) {
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  return credentials.map((c) => ({
    ...c,
    id: Buffer.from(c.credentialId, "base64").toString("base64url"),
    userHandleBase64url:
      c.userHandle === undefined
        ? undefined
        : Buffer.from(c.userHandle, "base64").toString("base64url"),
  }));
}

/** Whether the authenticator answers at once, as if the user touched it. */
export async function setPresence(cdp, authenticatorId, enabled) {
  await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled });
}

/** Runs in the page: the status line, the result and the account state it shows. */
function readPageState() {
  const status = document.querySelector('[data-testid="status"]');
  const result = document.getElementById("result");
  const shown = (id) => (result.hidden ? null : document.getElementById(id).textContent);
  return {
    state: status.dataset.state,
    text: status.textContent,
    userId: shown("result-user-id"),
    credentialId: shown("result-credential-id"),
    signedIn: !document.querySelector('[data-testid="account"]').hidden,
  };
}

/** The status line, the result and the account state the page shows. */
export async function pageState(page) {
  return page.evaluate(readPageState);
}

/**
 * Installs, before a ceremony starts, a watch for its end: the status is `ok`, `error` or
 * `cancelled` and the page is no longer busy. A MutationObserver watches the page, so two
 * ceremonies with the same outcome text are still told apart, and it keeps the page's state
 * at that moment (autofill may start right after a ceremony and change it).
 */
async function watchOutcome(page) {
  // A DevTools evaluation, which the page's CSP does not govern.
  await page.evaluate(`window.__e2eReadPageState = ${readPageState.toString()};`);
  await page.evaluate(() => {
    window.__e2eOutcome = new Promise((resolveOutcome) => {
      const status = document.querySelector('[data-testid="status"]');
      const app = document.getElementById("app");
      // A click also blurs the user-name field, whose `change` handler relabels the button:
      // only a mutation after the ceremony began (the page marked busy) can end it.
      let began = false;
      const observer = new MutationObserver((records) => {
        began ||= records.some((r) => r.target === app && r.attributeName === "aria-busy");
        const state = status.dataset.state;
        const over = state === "ok" || state === "error" || state === "cancelled";
        if (began && over && !app.hasAttribute("aria-busy")) {
          observer.disconnect();
          resolveOutcome(window.__e2eReadPageState());
        }
      });
      observer.observe(document.body, {
        attributes: true,
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  });
}

/** Waits for the outcome `watchOutcome` watches for; resolves to the page's state then. */
async function awaitOutcome(page, what) {
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(async () => {
      const now = await pageState(page).catch(() => ({}));
      reject(
        new Error(
          `the ${what} ceremony did not end within ${CEREMONY_TIMEOUT_MS} ms; the page shows ` +
            `${JSON.stringify(now)}`,
        ),
      );
    }, CEREMONY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([page.evaluate(() => window.__e2eOutcome), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `start` (a click, a key press) and resolves to a function that waits until the
 * ceremony it starts is over and resolves to `pageState`: the test can act in between, for
 * example press Cancel.
 */
export async function startCeremony(page, what, start) {
  await watchOutcome(page);
  await start();
  return () => awaitOutcome(page, what);
}

/** Clicks `testId` and waits until the ceremony it starts is over. Resolves to `pageState`. */
async function runCeremony(page, testId) {
  const outcome = await startCeremony(page, testId, () => page.getByTestId(testId).click());
  return outcome();
}

/** Types `userName` and presses "Create a passkey". */
export async function register(page, userName) {
  await page.getByTestId("username").fill(userName);
  return runCeremony(page, "register");
}

/** Signs in: by user name when one is given, else usernameless (the field is cleared). */
export async function signIn(page, userName = "") {
  await page.getByTestId("username").fill(userName);
  return runCeremony(page, "signin");
}

/** Presses "Sign out" on the account page; resolves once the sign-in form is back. */
export async function signOut(page) {
  await page.getByTestId("signout").click();
  await page.getByTestId("signed-out").waitFor({ state: "visible" });
  return pageState(page);
}

/**
 * On the account page: names the new passkey (when `name` is given) and presses "Add a
 * passkey" (the second-factor enrolment). Resolves to `pageState`.
 */
export async function addSecondFactor(page, name = "") {
  await page.getByTestId("mfa-name").fill(name);
  return runCeremony(page, "mfa-add");
}

/** The passkeys the account page lists, as it shows them. */
export async function listedPasskeys(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="passkeys"] > [data-testid="passkey"]')].map(
      (item) => {
        const part = (id) => item.querySelector(`[data-testid="${id}"]`);
        const time = (id) => part(id).querySelector("time")?.dateTime ?? null;
        return {
          credentialId: item.dataset.credentialId,
          name: part("passkey-name").textContent,
          model: part("passkey-model").textContent,
          kind: item.dataset.kind,
          kindLabel: part("passkey-kind").textContent,
          sync: item.dataset.sync,
          syncLabel: part("passkey-sync").textContent,
          current: !part("passkey-current").hidden,
          createdAt: time("passkey-created"),
          lastUsedAt: time("passkey-last-used"),
          lastUsedText: part("passkey-last-used").textContent,
        };
      },
    ),
  );
}

/** The list item of one credential on the account page (a locator). */
export function passkeyItem(page, credentialId) {
  return page.locator(`[data-testid="passkey"][data-credential-id="${credentialId}"]`);
}

/** Whether the element `locator` finds has the focus. */
export async function hasFocus(locator) {
  return locator.evaluate((element) => element === document.activeElement);
}

/** The backup codes the page shows (none when the panel is hidden). */
export async function shownBackupCodes(page) {
  return page.evaluate(() => {
    const panel = document.querySelector('[data-testid="backup-codes"]');
    if (panel.hidden) {
      return [];
    }
    return [...panel.querySelectorAll('[data-testid="backup-code-list"] li')].map(
      (li) => li.textContent,
    );
  });
}

/**
 * Waits until nothing runs on the page any more (for what the test did not start with a click,
 * such as a sign-in through autofill); resolves to `pageState`.
 */
export async function settled(page) {
  await page.waitForFunction(
    () => {
      const state = document.querySelector('[data-testid="status"]').dataset.state;
      const over = state === "ok" || state === "error" || state === "cancelled";
      return over && !document.getElementById("app").hasAttribute("aria-busy");
    },
    null,
    { timeout: CEREMONY_TIMEOUT_MS },
  );
  return pageState(page);
}

/** Waits until the page's autofill (conditional mediation) request is in `state`. */
export async function waitForAutofill(page, state) {
  await page.waitForFunction(
    (expected) => document.getElementById("demo-form").dataset.autofill === expected,
    state,
    { timeout: CEREMONY_TIMEOUT_MS },
  );
}

/**
 * The backend-mediated flow, driven from Node with the secret key: options from
 * `POST /webauthn/registration/request`, `navigator.credentials.create` in the page,
 * `credential.toJSON()` posted back. Resolves to the finish answer { status, body }.
 */
export async function registerWithSecretKey(page, server, request) {
  const begun = await server.api("POST", "/webauthn/registration/request", request);
  if (begun.status !== 200) {
    throw new Error(`registration/request answered ${begun.status} ${JSON.stringify(begun.body)}`);
  }
  const credential = await page.evaluate(async (options) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    const created = await navigator.credentials.create({ publicKey });
    return created.toJSON();
  }, begun.body.publicKeyCredentialCreationOptions);
  return server.api("POST", "/webauthn/registration/response", {
    session: begun.body.session,
    publicKeyCredential: credential,
  });
}

/**
 * The backend-mediated sign-in: options (with allowCredentials) from
 * `POST /webauthn/authentication/request` with the secret key, `navigator.credentials.get` in the
 * page, the assertion posted back. Resolves to { options, status, body }.
 */
export async function signInWithSecretKey(page, server, request) {
  const begun = await server.api("POST", "/webauthn/authentication/request", request);
  if (begun.status !== 200) {
    throw new Error(
      `authentication/request answered ${begun.status} ${JSON.stringify(begun.body)}`,
    );
  }
  const options = begun.body.publicKeyCredentialRequestOptions;
  const assertion = await page.evaluate(async (json) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(json);
    const got = await navigator.credentials.get({ publicKey });
    return got.toJSON();
  }, options);
  const finish = await server.api("POST", "/webauthn/authentication/response", {
    session: begun.body.session,
    publicKeyCredential: assertion,
  });
  return { options, ...finish };
}

/**
 * Records the JSON answers of the page's calls to `path` (for example the options of
 * `/webauthn/authentication/request`), newest last.
 */
export function recordAnswers(page, path) {
  const answers = [];
  page.on("response", async (response) => {
    if (new URL(response.url()).pathname === path) {
      answers.push(await response.json().catch(() => null));
    }
  });
  return answers;
}

/**
 * Runs `action` while the page's ceremony options carry `timeoutMs` instead of the tenant's
 * timeout (at least 30 s); nothing else in passkeyd's answers changes.
 *
 * This stands in for the user dismissing the browser's dialog, which a virtual authenticator
 * cannot do: when allowCredentials names no credential the authenticator holds (a key that is
 * not registered), Chromium waits for the user, and the ceremony ends with NotAllowedError when
 * they cancel or when the timeout passes. Chromium takes short timeouts as they are while
 * virtual authenticators are on.
 */
export async function withCeremonyTimeout(page, timeoutMs, action) {
  const pattern = /\/webauthn\/(registration|authentication)\/request$/;
  const handler = async (route) => {
    const response = await route.fetch();
    const json = await response.json().catch(() => null);
    const options =
      json?.publicKeyCredentialRequestOptions ?? json?.publicKeyCredentialCreationOptions;
    if (!response.ok() || !options) {
      await route.fulfill({ response });
      return;
    }
    options.timeout = timeoutMs;
    await route.fulfill({ response, json });
  };
  await page.route(pattern, handler);
  try {
    return await action();
  } finally {
    await page.unroute(pattern, handler);
  }
}

/** Saves a screenshot as target/e2e/<name>.png; resolves to its path. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (name === "demo-signed-in" && process.env.PASSKEYD_E2E_UPDATE_DEMO_PNG === "1") {
    copyFileSync(path, join(REPO, "docs", "demo.png"));
  }
  return path;
}
