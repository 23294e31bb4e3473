// Scenario 9: the page's Cancel button (and Escape) aborts a ceremony in progress through its
// AbortController: the page says so in words, and nothing is stored.
//
// A virtual authenticator without simulated presence waits, as a security key waits for a
// touch, so the ceremony is still in the browser when the test presses Cancel.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  authenticatorCredentials,
  launchBrowser,
  register,
  screenshot,
  setPresence,
  signIn,
  startCeremony,
} from "../lib/browser.js";
import { auditEntries, credentialsOf, scenario, userNamed, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Waits until the page waits for the authenticator (its prompt text) with Cancel shown. */
async function waitForPrompt(page) {
  await page.getByTestId("status").filter({ hasText: "Follow your browser's prompt" }).waitFor();
  await page.getByTestId("cancel").waitFor({ state: "visible" });
}

function focusedTestId(page) {
  return page.evaluate(() => document.activeElement?.dataset.testid ?? null);
}

test("Cancel during sign-up and sign-in says so, and stores nothing", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const authenticator = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.platform,
      automaticPresenceSimulation: false,
    });
    assert.equal(await page.getByTestId("cancel").isVisible(), false, "no Cancel while idle");

    // Sign-up: the authenticator waits; the user presses Cancel.
    await page.getByTestId("username").fill("carol");
    let outcome = await startCeremony(page, "register", () =>
      page.getByTestId("register").click(),
    );
    await waitForPrompt(page);
    await screenshot(page, "ceremony-in-progress");
    await page.getByTestId("cancel").click();
    const cancelled = await outcome();
    assert.equal(cancelled.state, "cancelled");
    assert.equal(cancelled.text, "Cancelled: no passkey was created.");
    assert.equal(cancelled.userId, null);
    assert.equal(await page.getByTestId("cancel").isVisible(), false);
    assert.equal(await focusedTestId(page), "register", "the focus goes back to the button");
    await screenshot(page, "registration-cancelled-by-user");
    assert.equal((await authenticatorCredentials(cdp, authenticator)).length, 0);
    assert.equal(await userNamed(server, "carol"), null, "no user carol was stored");

    // Nothing half-made blocks the name.
    await setPresence(cdp, authenticator, true);
    const registered = await register(page, "carol");
    assert.equal(registered.text, "Registered carol");
    const userBefore = await userOf(server, registered.userId);
    const [heldBefore] = await authenticatorCredentials(cdp, authenticator);

    // Sign-in, cancelled the same way.
    await setPresence(cdp, authenticator, false);
    await page.getByTestId("username").fill("carol");
    outcome = await startCeremony(page, "signin", () => page.getByTestId("signin").click());
    await waitForPrompt(page);
    await page.getByTestId("cancel").click();
    const notSignedIn = await outcome();
    assert.equal(notSignedIn.state, "cancelled");
    assert.equal(notSignedIn.text, "Cancelled: you are not signed in.");
    assert.equal(notSignedIn.signedIn, false);

    assert.deepEqual(await userOf(server, registered.userId), userBefore);
    const [stored] = await credentialsOf(server, registered.userId);
    assert.equal(stored.lastUsedAt, null, "no sign-in was recorded");
    const [heldAfter] = await authenticatorCredentials(cdp, authenticator);
    assert.equal(heldAfter.signCount, heldBefore.signCount, "the authenticator signed nothing");
  }));

test("Escape cancels adding a second factor; nothing is stored and no codes are issued", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const laptop = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const key = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.roamingPasskey,
      automaticPresenceSimulation: false,
    });
    const registered = await register(page, "dan");
    assert.equal((await signIn(page, "dan")).text, "Signed in as dan");
    await setPresence(cdp, laptop, false);

    await page.getByTestId("mfa-name").fill("spare key");
    const outcome = await startCeremony(page, "mfa-add", () =>
      page.getByTestId("mfa-add").click(),
    );
    await waitForPrompt(page);
    await page.keyboard.press("Escape");
    const cancelled = await outcome();
    assert.equal(cancelled.state, "cancelled");
    assert.equal(cancelled.text, "Cancelled: no passkey was added.");
    assert.equal(cancelled.signedIn, true, "still signed in");
    assert.equal(await page.getByTestId("backup-codes").isVisible(), false);

    assert.equal((await authenticatorCredentials(cdp, key)).length, 0);
    assert.deepEqual(
      (await credentialsOf(server, registered.userId)).map((c) => c.credentialId),
      [registered.credentialId],
    );
    assert.deepEqual(await auditEntries(server, "mfa.enrol"), [], "no enrolment was attempted");

    // The enrolment works when not cancelled.
    await setPresence(cdp, key, true);
    const added = await startCeremony(page, "mfa-add", () => page.getByTestId("mfa-add").click());
    const done = await added();
    assert.equal(done.state, "ok", done.text);
    assert.equal((await credentialsOf(server, registered.userId)).length, 2);
  }));
