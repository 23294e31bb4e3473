// Scenario 4: what was registered survives a restart of the server on the same data directory
// with the same key: the passkey, the demo page's publishable key and the token signing keys.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  launchBrowser,
  register,
  signIn,
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

test("sign-in keeps working after a server restart", (t) =>
  scenario(t, browser, async (ctx) => {
    await addAuthenticator(ctx.cdp, AUTHENTICATORS.platform);
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

    // A fresh load gets the same key, and both kinds of sign-in work.
    await ctx.page.reload();
    assert.equal(await publishableKey(ctx.page), keyBefore);
    for (const name of ["frank", ""]) {
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
