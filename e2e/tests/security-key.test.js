// Scenario 2: roaming security keys that keep no discoverable credential: a CTAP2 key over USB
// and an old U2F (CTAP1) key. Such a credential can only sign in when the options name it
// (allowCredentials), so every sign-in here is by user name.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  authenticatorCredentials,
  launchBrowser,
  recordAnswers,
  register,
  screenshot,
  signIn,
  signInWithSecretKey,
} from "../lib/browser.js";
import { runCli } from "../lib/server.js";
import { credentialsOf, scenario, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Registers `userName` on the demo page; checks the page, the authenticator and passkeyd. */
async function registerKey({ server, page, cdp }, authenticator, userName) {
  const registered = await register(page, userName);
  assert.equal(registered.text, `Registered ${userName}`);
  assert.equal(registered.state, "ok");

  const held = await authenticatorCredentials(cdp, authenticator);
  assert.equal(held.length, 1);
  assert.equal(held[0].isResidentCredential, false, "a key keeps no discoverable credential");

  const credentials = await credentialsOf(server, registered.userId);
  assert.equal(credentials.length, 1);
  const [stored] = credentials;
  assert.equal(stored.credentialId, held[0].id);
  assert.equal(stored.credentialId, registered.credentialId);
  assert.deepEqual(stored.transports, ["usb"]);
  assert.equal(stored.userVerified, false, "no PIN, so no user verification");
  assert.equal(stored.lastUsedAt, null);
  return { registered, held: held[0], stored };
}

/**
 * Signs in by user name on the demo page (the publishable-key route). The authenticator can
 * only answer when the options list its credential, so a failure says what the page was given.
 */
async function signInOnDemoByName({ server, page }, userName, registered) {
  const requestAnswers = recordAnswers(page, "/webauthn/authentication/request");
  const result = await signIn(page, userName);
  const options = requestAnswers.at(-1)?.publicKeyCredentialRequestOptions;
  assert.equal(
    result.text,
    `Signed in as ${userName}`,
    `a sign-in by user name with a non-discoverable credential failed on the demo page.\n` +
      `  the page shows: ${JSON.stringify(result.text)} (data-state ${result.state})\n` +
      `  passkeyd's options to the page had allowCredentials ` +
      `${JSON.stringify(options?.allowCredentials)}; the registered credential is ` +
      `${registered.credentialId}.\n` +
      `  Unless allowCredentials names it, a security key has nothing to sign with: the ` +
      `publishable-key route must list a named user's credentials (ceremony.rs, ` +
      `begin_authentication).`,
  );
  assert.equal(result.state, "ok");
  assert.equal(result.userId, registered.userId);
  const [stored] = await credentialsOf(server, registered.userId);
  assert.notEqual(stored.lastUsedAt, null);
}

test("a CTAP2 security key (USB, no resident key) registers; the backend flow signs in", (t) =>
  scenario(t, browser, async (ctx) => {
    const authenticator = await addAuthenticator(ctx.cdp, AUTHENTICATORS.securityKey);
    const { registered, stored } = await registerKey(ctx, authenticator, "dave");
    // The default tenant asks for no attestation.
    assert.equal(stored.attestationFormat, "none");
    assert.equal(stored.attestationType, "none");

    // The app's backend (secret key) gets allowCredentials, so the key can answer.
    const signedIn = await signInWithSecretKey(ctx.page, ctx.server, { userName: "dave" });
    assert.deepEqual(
      signedIn.options.allowCredentials.map((c) => c.id),
      [registered.credentialId],
    );
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    assert.equal(signedIn.body.verified, true);
    assert.equal(signedIn.body.userId, registered.userId);
    assert.equal(signedIn.body.credentialId, registered.credentialId);
    assert.equal(signedIn.body.userVerified, false);
    const [used] = await credentialsOf(ctx.server, registered.userId);
    assert.notEqual(used.lastUsedAt, null);
    assert.equal((await userOf(ctx.server, registered.userId)).failedAttempts, 0);
  }));

test("a CTAP2 security key (USB, no resident key) signs in by user name on the demo page", (t) =>
  scenario(t, browser, async (ctx) => {
    const authenticator = await addAuthenticator(ctx.cdp, AUTHENTICATORS.securityKey);
    const { registered } = await registerKey(ctx, authenticator, "dave");
    await signInOnDemoByName(ctx, "dave", registered);
  }));

test("a U2F key registers (fido-u2f when the tenant asks direct); the backend flow signs in", (t) =>
  scenario(t, browser, async (ctx) => {
    // The operator's way: the CLI on the same data directory while the server is down.
    let updated;
    await ctx.restart(async (server) => {
      const args = ["tenant", "update", "--id", "default", "--set", "attestation=direct"];
      updated = JSON.parse(await runCli(args, server));
    });
    assert.equal(updated.settings.attestation, "direct");
    await ctx.page.reload();

    const creationAnswers = recordAnswers(ctx.page, "/webauthn/registration/request");
    const authenticator = await addAuthenticator(ctx.cdp, AUTHENTICATORS.u2f);
    const { registered, held, stored } = await registerKey(ctx, authenticator, "erin");
    assert.equal(creationAnswers.at(-1).publicKeyCredentialCreationOptions.attestation, "direct");
    assert.equal(held.userHandle, undefined, "U2F keeps no user handle");
    assert.equal(stored.attestationFormat, "fido-u2f");
    // Chromium's virtual key signs with a batch certificate that chains to no trusted root; the
    // tenant does not require a trusted chain, so it is stored as basic attestation.
    assert.equal(stored.attestationType, "basic");
    assert.equal(stored.aaguid, "00000000-0000-0000-0000-000000000000", "U2F has no AAGUID");
    await screenshot(ctx.page, "u2f-registered");

    const signedIn = await signInWithSecretKey(ctx.page, ctx.server, { userName: "erin" });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    assert.equal(signedIn.body.userId, registered.userId);
    assert.equal(signedIn.body.credentialId, registered.credentialId);
    const [used] = await credentialsOf(ctx.server, registered.userId);
    assert.notEqual(used.lastUsedAt, null);

    await signInOnDemoByName(ctx, "erin", registered);
  }));

test("a U2F key signs in by user name on the demo page", (t) =>
  scenario(t, browser, async (ctx) => {
    const authenticator = await addAuthenticator(ctx.cdp, AUTHENTICATORS.u2f);
    const { registered, stored } = await registerKey(ctx, authenticator, "erin");
    assert.equal(stored.attestationFormat, "none", "the default tenant asks for no attestation");
    await signInOnDemoByName(ctx, "erin", registered);
  }));
