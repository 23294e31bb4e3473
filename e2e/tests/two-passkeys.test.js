// Scenario 3: one user, two passkeys on two authenticators; one is deleted through the API, and
// only the other still signs in.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  authenticatorCredentials,
  launchBrowser,
  recordAnswers,
  register,
  registerWithSecretKey,
  screenshot,
  setPresence,
  signIn,
  signOut,
  withCeremonyTimeout,
} from "../lib/browser.js";
import { credentialsOf, scenario, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("two passkeys for one user; the deleted one is refused, the other still signs in", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    // Both authenticators are attached (Chromium allows one platform authenticator, so the
    // second is a security key with a PIN); the one whose presence is simulated is the one the
    // user touches.
    const first = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const second = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.roamingPasskey,
      automaticPresenceSimulation: false,
    });

    const registered = await register(page, "bob");
    assert.equal(registered.text, "Registered bob");
    const [firstCredential] = await authenticatorCredentials(cdp, first);
    assert.equal(firstCredential.id, registered.credentialId);
    assert.equal((await authenticatorCredentials(cdp, second)).length, 0);

    // Open sign-up cannot add a passkey to an existing account: the page says so, and nothing
    // is created in passkeyd. The begin does not tell that the name is taken (a stranger must
    // not learn who has an account), so the authenticator made a credential that passkeyd
    // refused at the finish; it is removed from the authenticator as a user would.
    await setPresence(cdp, first, false);
    await setPresence(cdp, second, true);
    const refused = await register(page, "bob");
    assert.equal(refused.state, "error");
    assert.match(refused.text, /^Error: .+ \(user_exists\)$/);
    assert.equal((await userOf(server, registered.userId)).credentialCount, 1);
    const orphans = await authenticatorCredentials(cdp, second);
    assert.equal(orphans.length, 1);
    await cdp.send("WebAuthn.removeCredential", {
      authenticatorId: second,
      credentialId: orphans[0].credentialId,
    });

    // The app's backend adds the second passkey with the secret key (the backend-mediated flow);
    // the browser part runs in the page. The first credential is excluded.
    const added = await registerWithSecretKey(page, server, {
      userId: registered.userId,
      userName: "bob",
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.userId, registered.userId);
    const [secondCredential, ...extra] = await authenticatorCredentials(cdp, second);
    assert.deepEqual(extra, []);
    assert.equal(added.body.credentialId, secondCredential.id);
    assert.equal(
      secondCredential.userHandleBase64url,
      firstCredential.userHandleBase64url,
      "the same user handle",
    );

    let stored = await credentialsOf(server, registered.userId);
    assert.deepEqual(
      stored.map((c) => c.credentialId).sort(),
      [firstCredential.id, secondCredential.id].sort(),
    );
    assert.equal((await userOf(server, registered.userId)).credentialCount, 2);

    // Delete the first passkey.
    const deleted = await server.api("DELETE", `/credentials/${firstCredential.id}`);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    stored = await credentialsOf(server, registered.userId);
    assert.deepEqual(stored.map((c) => c.credentialId), [secondCredential.id]);

    // The first authenticator still holds it. Without a user name the browser offers it and
    // passkeyd refuses it with a readable error. By user name the options list only the second
    // passkey, so the first authenticator has nothing to answer with and the user gives up.
    await setPresence(cdp, second, false);
    await setPresence(cdp, first, true);
    const usernameless = await signIn(page, "");
    assert.equal(usernameless.state, "error");
    assert.equal(usernameless.text, "Error: this credential is not registered (credential_unknown)");
    assert.equal(usernameless.userId, null);
    await screenshot(page, "deleted-passkey-refused");

    const requests = recordAnswers(page, "/webauthn/authentication/request");
    const named = await withCeremonyTimeout(page, 1_000, () => signIn(page, "bob"));
    assert.equal(named.state, "error");
    assert.match(named.text, /\(NotAllowedError\)$/);
    assert.deepEqual(
      requests.at(-1).publicKeyCredentialRequestOptions.allowCredentials.map((c) => c.id),
      [secondCredential.id],
    );

    stored = await credentialsOf(server, registered.userId);
    assert.deepEqual(stored.map((c) => c.credentialId), [secondCredential.id]);
    assert.equal(stored[0].lastUsedAt, null);

    // The second one signs in, by user name and without one.
    await setPresence(cdp, first, false);
    await setPresence(cdp, second, true);
    for (const name of ["bob", ""]) {
      const result = await signIn(page, name);
      assert.equal(result.text, "Signed in as bob", `sign-in ${JSON.stringify(name)}`);
      assert.equal(result.credentialId, secondCredential.id);
      assert.equal(result.userId, registered.userId);
      await signOut(page);
    }
    [stored] = await credentialsOf(server, registered.userId);
    assert.notEqual(stored.lastUsedAt, null);
    const user = await userOf(server, registered.userId);
    assert.equal(user.credentialCount, 1);
    assert.equal(user.failedAttempts, 0);
  }));
