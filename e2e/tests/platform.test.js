// Scenario 1: a platform authenticator (Windows Hello, Touch ID, Android): a discoverable
// credential with user verification, registered on the demo page and used with and without the
// user name.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  authenticatorCredentials,
  launchBrowser,
  register,
  screenshot,
  signIn,
  signOut,
} from "../lib/browser.js";
import { credentialsOf, scenario, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("a platform passkey registers, then signs in by user name and without one", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const authenticator = await addAuthenticator(cdp, AUTHENTICATORS.platform);

    const registered = await register(page, "alice");
    assert.equal(registered.state, "ok");
    assert.equal(registered.text, "Registered alice");
    assert.match(registered.userId, /^u_[A-Za-z0-9_-]+$/);

    // The authenticator holds one discoverable credential for localhost, and passkeyd stores
    // exactly that one, with what the authenticator reported.
    const held = await authenticatorCredentials(cdp, authenticator);
    assert.equal(held.length, 1);
    assert.equal(held[0].rpId, "localhost");
    assert.equal(held[0].isResidentCredential, true);
    assert.equal(held[0].userName, "alice");
    assert.equal(registered.credentialId, held[0].id);

    const user = await userOf(server, registered.userId);
    assert.equal(user.userName, "alice");
    assert.equal(user.credentialCount, 1);
    assert.equal(user.failedAttempts, 0);
    assert.equal(user.userHandle, held[0].userHandleBase64url, "the authenticator's user handle");

    let [stored, ...more] = await credentialsOf(server, registered.userId);
    assert.deepEqual(more, []);
    assert.equal(stored.credentialId, held[0].id);
    assert.equal(stored.userId, registered.userId);
    assert.equal(stored.lastUsedAt, null);
    assert.equal(stored.userVerified, true);
    assert.equal(stored.backupEligible, false);
    assert.equal(stored.backupState, false);
    assert.deepEqual(stored.transports, ["internal"]);
    // The default tenant asks for no attestation.
    assert.equal(stored.attestationFormat, "none");
    assert.equal(stored.attestationType, "none");
    assert.equal(stored.algorithm, -7, "ES256, the virtual authenticator's algorithm");
    assert.match(stored.aaguid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(stored.createdAt)), stored.createdAt);

    // Sign in with the user name.
    const named = await signIn(page, "alice");
    assert.equal(named.state, "ok");
    assert.equal(named.text, "Signed in as alice");
    assert.equal(named.userId, registered.userId);
    assert.equal(named.credentialId, held[0].id);
    assert.equal(named.signedIn, true);
    await screenshot(page, "platform-signed-in");

    [stored] = await credentialsOf(server, registered.userId);
    assert.notEqual(stored.lastUsedAt, null, "lastUsedAt is set by the sign-in");
    assert.ok(Date.parse(stored.lastUsedAt) >= Date.parse(stored.createdAt));
    const [afterNamed] = await authenticatorCredentials(cdp, authenticator);
    assert.ok(afterNamed.signCount > held[0].signCount, "the authenticator signed again");

    // Sign out, and sign in with an empty field: a usernameless (discoverable) sign-in.
    assert.equal((await signOut(page)).signedIn, false);
    const usernameless = await signIn(page, "");
    assert.equal(usernameless.state, "ok");
    assert.equal(usernameless.text, "Signed in as alice");
    assert.equal(usernameless.userId, registered.userId);
    assert.equal(await page.getByTestId("signin").textContent(), "Sign in without a user name");
    await screenshot(page, "platform-usernameless");

    const [afterAll] = await credentialsOf(server, registered.userId);
    assert.notEqual(afterAll.lastUsedAt, null);
    assert.equal((await userOf(server, registered.userId)).credentialCount, 1);
    assert.equal((await authenticatorCredentials(cdp, authenticator)).length, 1);
  }));
