// Scenario 7: a passkey added as a second factor on the account page
// (`/me/mfa/webauthn/register/{begin,complete}`): the first enrolment shows ten backup codes
// once, with a copy button; passkeyd then accepts each code once at
// `/me/mfa/backup-codes/verify`. A new set (`POST /me/mfa/backup-codes`) replaces the old one.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  addSecondFactor,
  authenticatorCredentials,
  hasFocus,
  launchBrowser,
  listedPasskeys,
  register,
  screenshot,
  setPresence,
  shownBackupCodes,
  signIn,
} from "../lib/browser.js";
import { auditEntries, credentialsOf, scenario, userToken } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** `XXXX-XXXX-XXXX-XXXX` in Crockford's base32 (no I, L, O or U). */
const CODE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/;

async function verifyCode(server, token, code) {
  return server.api("POST", "/me/mfa/backup-codes/verify", { code }, token);
}

test("a passkey added as a second factor shows ten backup codes once; each works once", (t) =>
  scenario(t, browser, async ({ server, page, cdp, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    const laptop = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const key = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.roamingPasskey,
      automaticPresenceSimulation: false,
    });
    const registered = await register(page, "alice");
    const signedIn = await signIn(page, "alice");
    assert.equal(signedIn.text, "Signed in as alice");
    assert.equal(await page.getByTestId("backup-codes").isVisible(), false);

    await setPresence(cdp, laptop, false);
    await setPresence(cdp, key, true);
    const enrolled = await addSecondFactor(page, "Blue key");
    assert.equal(enrolled.state, "ok");
    assert.equal(enrolled.text, "Added a passkey as a second factor. Store your backup codes now.");

    // Ten distinct codes, with the "store these now" warning, and the focus on them.
    const codes = await shownBackupCodes(page);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) {
      assert.match(code, CODE);
    }
    assert.match(await page.getByTestId("backup-codes-warning").textContent(), /Store these now\./);
    assert.equal(await hasFocus(page.locator("#codes-title")), true);
    await screenshot(page, "backup-codes");

    // The copy button puts all ten on the clipboard, one a line.
    await page.getByTestId("copy-codes").click();
    await page.getByTestId("status").filter({ hasText: "Copied 10 backup codes" }).waitFor();
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    assert.deepEqual(clipboard.trim().split("\n"), codes);

    // passkeyd stored the security key's credential under its name, for alice.
    const [held] = await authenticatorCredentials(cdp, key);
    const stored = await credentialsOf(server, registered.userId);
    // (Oldest first by the second; two made in the same second in credential-ID order.)
    assert.deepEqual(
      stored.map((c) => c.credentialId).sort(),
      [registered.credentialId, held.id].sort(),
    );
    assert.equal(stored.find((c) => c.credentialId === held.id).friendlyName, "Blue key");
    assert.deepEqual(
      (await listedPasskeys(page)).map((p) => p.name).sort(),
      ["Blue key", "Passkey"],
    );
    const [enrolment] = await auditEntries(server, "mfa.enrol");
    assert.equal(enrolment.outcome, "success");
    assert.equal(enrolment.details.backup_codes_issued, "true");

    // Once stored, the codes leave the page.
    await page.getByTestId("codes-done").click();
    assert.deepEqual(await shownBackupCodes(page), []);
    assert.equal(await page.locator("#codes li").count(), 0);

    // Each code works once at /me (as the app's backend would call it for alice), in any case.
    const token = await userToken(server, registered.userId);
    const first = await verifyCode(server, token, codes[0].toLowerCase());
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.verified, true);
    assert.equal(first.body.remaining, 9);
    // The answer carries a fresh token that proves the code (a step-up for factor changes).
    const claims = JSON.parse(Buffer.from(first.body.token.split(".")[1], "base64url"));
    assert.deepEqual(claims.amr, ["backup_code"]);
    const reused = await verifyCode(server, token, codes[0]);
    assert.equal(reused.status, 401, JSON.stringify(reused.body));
    assert.equal(reused.body.code, "backup_code_invalid");
    const second = await verifyCode(server, token, codes[1]);
    assert.equal(second.body.verified, true);
    assert.equal(second.body.remaining, 8);

    // The same key again: the options exclude its credential, so the browser refuses, and
    // nothing is added.
    const again = await addSecondFactor(page, "");
    assert.equal(again.state, "error");
    assert.equal(again.text,
      "Error: this authenticator already holds a passkey for this user (InvalidStateError)");
    assert.equal((await credentialsOf(server, registered.userId)).length, 2);
    assert.deepEqual(await shownBackupCodes(page), []);

    // A new set: ten other codes; the old ones stop working.
    await page.getByTestId("new-codes").click();
    await page.getByTestId("new-codes-yes").click();
    await page.getByTestId("status").filter({ hasText: "New backup codes" }).waitFor();
    const renewed = await shownBackupCodes(page);
    assert.equal(renewed.length, 10);
    assert.equal(renewed.filter((c) => codes.includes(c)).length, 0);
    const old = await verifyCode(server, token, codes[2]);
    assert.equal(old.status, 401);
    assert.equal(old.body.code, "backup_code_invalid");
    const fresh = await verifyCode(server, token, renewed[0]);
    assert.equal(fresh.body.verified, true);
    assert.equal(fresh.body.remaining, 9);
  }));

test("a later enrolment shows no codes and says how many remain", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const laptop = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const keys = [];
    for (let i = 0; i < 2; i++) {
      keys.push(
        await addAuthenticator(cdp, {
          ...AUTHENTICATORS.roamingPasskey,
          automaticPresenceSimulation: false,
        }),
      );
    }
    const registered = await register(page, "bea");
    await signIn(page, "bea");
    await setPresence(cdp, laptop, false);

    await setPresence(cdp, keys[0], true);
    await addSecondFactor(page, "first key");
    assert.equal((await shownBackupCodes(page)).length, 10);
    await page.getByTestId("codes-done").click();

    await setPresence(cdp, keys[0], false);
    await setPresence(cdp, keys[1], true);
    const later = await addSecondFactor(page, "second key");
    assert.equal(later.state, "ok");
    assert.equal(later.text,
      "Added a passkey as a second factor. You still hold 10 unused backup codes.");
    assert.deepEqual(await shownBackupCodes(page), []);
    const stored = await credentialsOf(server, registered.userId);
    assert.deepEqual(
      stored.map((c) => c.friendlyName ?? "(none)").sort(),
      ["(none)", "first key", "second key"],
    );
  }));
