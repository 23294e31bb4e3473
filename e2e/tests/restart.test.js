// Scenario 4: what was registered survives a restart of the server on the same data directory
// with the same key: the passkey, the demo page's publishable key and the token signing keys.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  launchBrowser,
  register,
  setPresence,
  settled,
  signIn,
  signOut,
  waitForAutofill,
} from "../lib/browser.js";
import { credentialsOf, scenario, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

function publishableKey(page) {
  return page.evaluate(
    () => document.querySelector('meta[name="passkeyd-publishable-key"]').content,
  );
}

/**
 * Signs out while the autofill request the page then starts waits: with presence simulation
 * off, Chromium's virtual authenticator does not pick the passkey for it at once (which it
 * does when presence is simulated, as a user choosing from the suggestions would). The next
 * sign-in is then the test's own, modal one.
 */
async function signOutWhileAutofillWaits(page, cdp, authenticator) {
  await setPresence(cdp, authenticator, false);
  await signOut(page);
  await waitForAutofill(page, "waiting");
  await setPresence(cdp, authenticator, true);
}

test("sign-in keeps working after a server restart", (t) =>
  scenario(t, browser, async (ctx) => {
    const authenticator = await addAuthenticator(ctx.cdp, AUTHENTICATORS.platform);
    const registered = await register(ctx.page, "frank");
    assert.equal(registered.text, "Registered frank");
    const keyBefore = await publishableKey(ctx.page);
    assert.match(keyBefore, /^pk_/);
    const jwksBefore = await ctx.server.api("GET", "/.well-known/jwks.json?tenant=default");
    assert.equal(jwksBefore.status, 200);

    await ctx.restart();

    // The page loaded before the restart still works: its publishable key is stored.
    const stale = await signIn(ctx.page, "frank");
    assert.equal(stale.text, "Signed in as frank");
    assert.equal(stale.userId, registered.userId);

    // A fresh load gets the same key. The authenticator now holds a passkey for the site, so
    // the page starts autofill (conditional mediation) on load, and the virtual authenticator
    // picks frank's passkey for it at once: the page signs in without a click.
    await ctx.page.reload();
    assert.equal(await publishableKey(ctx.page), keyBefore);
    await waitForAutofill(ctx.page, "used");
    const autofilled = await settled(ctx.page);
    assert.equal(autofilled.signedIn, true);
    assert.equal(autofilled.text, "Signed in as frank");
    assert.equal(autofilled.credentialId, registered.credentialId);

    // Both kinds of modal sign-in work too.
    for (const name of ["frank", ""]) {
      await signOutWhileAutofillWaits(ctx.page, ctx.cdp, authenticator);
      const result = await signIn(ctx.page, name);
      assert.equal(result.text, "Signed in as frank", `sign-in ${JSON.stringify(name)}`);
      assert.equal(result.state, "ok");
      assert.equal(result.credentialId, registered.credentialId);
    }

    // The same secret key reads the same user, and the token keys were kept.
    const user = await userOf(ctx.server, registered.userId);
    assert.equal(user.credentialCount, 1);
    const [stored] = await credentialsOf(ctx.server, registered.userId);
    assert.equal(stored.credentialId, registered.credentialId);
    assert.notEqual(stored.lastUsedAt, null);
    const jwksAfter = await ctx.server.api("GET", "/.well-known/jwks.json?tenant=default");
    assert.deepEqual(jwksAfter.body, jwksBefore.body);
  }));
