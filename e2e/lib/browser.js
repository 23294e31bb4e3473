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

/** The status line and the result the page shows. */
export async function pageState(page) {
  return page.evaluate(() => {
    const status = document.querySelector('[data-testid="status"]');
    const result = document.getElementById("result");
    const shown = (id) => (result.hidden ? null : document.getElementById(id).textContent);
    return {
      state: status.dataset.state,
      text: status.textContent,
      userId: shown("result-user-id"),
      credentialId: shown("result-credential-id"),
    };
  });
}

/**
 * Clicks `testId` and waits until the ceremony it starts is over: the status is `ok` or
 * `error` and the form is no longer busy. Resolves to `pageState`.
 *
 * A MutationObserver, installed before the click, watches the page, so two ceremonies with the
 * same outcome text are still told apart.
 */
async function runCeremony(page, testId) {
  await page.evaluate(() => {
    window.__e2eOutcome = new Promise((resolveOutcome) => {
      const status = document.querySelector('[data-testid="status"]');
      const form = document.getElementById("demo-form");
      // The click also blurs the field, whose `change` handler relabels the button: only a
      // mutation after the ceremony began (the form marked busy) can end it.
      let began = false;
      const observer = new MutationObserver((records) => {
        began ||= records.some((r) => r.target === form && r.attributeName === "aria-busy");
        const state = status.dataset.state;
        if (began && (state === "ok" || state === "error") && !form.hasAttribute("aria-busy")) {
          observer.disconnect();
          resolveOutcome(state);
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
  await page.getByTestId(testId).click();
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(async () => {
      const now = await pageState(page).catch(() => ({}));
      reject(
        new Error(
          `the ${testId} ceremony did not end within ${CEREMONY_TIMEOUT_MS} ms; the page shows ` +
            `${JSON.stringify(now)}`,
        ),
      );
    }, CEREMONY_TIMEOUT_MS);
  });
  try {
    await Promise.race([page.evaluate(() => window.__e2eOutcome), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  return pageState(page);
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
