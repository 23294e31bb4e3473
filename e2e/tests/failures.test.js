// Scenario 5: ceremonies that fail in the browser or at passkeyd show a readable error on the
// page (data-state "error") and store nothing new.
//
// "The user cancels" is a virtual authenticator whose user verification fails, as when the user
// dismisses the fingerprint or PIN prompt: Chromium rejects at once with NotAllowedError, as it
// does for a cancel or a timeout. Where Chromium would wait for the user to dismiss its dialog
// (a key that holds none of the credentials the options name), the options' timeout is
// shortened on the way to the page (withCeremonyTimeout).

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
  withCeremonyTimeout,
} from "../lib/browser.js";
import { credentialsOf, scenario, userNamed, userOf } from "../lib/scenario.js";

/** How long the user takes to give up in the browser's dialog (see withCeremonyTimeout). */
const GIVE_UP_MS = 1_000;

const CANCELLED =
  "Error: the request was cancelled or timed out, or no passkey was chosen (NotAllowedError)";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

async function setUserVerified(cdp, authenticatorId, isUserVerified) {
  await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified });
}

/** Everything passkeyd shows of a user, to compare before and after a failure. */
async function snapshot(server, userId) {
  return { user: await userOf(server, userId), credentials: await credentialsOf(server, userId) };
}

test("a cancelled registration shows an error and stores nothing", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const authenticator = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    await setUserVerified(cdp, authenticator, false);

    const cancelled = await register(page, "carol");
    assert.equal(cancelled.state, "error");
    assert.equal(cancelled.text, CANCELLED);
    assert.equal(cancelled.userId, null);
    await screenshot(page, "registration-cancelled");

    assert.equal((await authenticatorCredentials(cdp, authenticator)).length, 0);
    assert.equal(await userNamed(server, "carol"), null, "no user carol was stored");

    // Nothing half-made blocks the name: the same registration, not cancelled, succeeds.
    await setUserVerified(cdp, authenticator, true);
    const registered = await register(page, "carol");
    assert.equal(registered.text, "Registered carol");
    assert.equal((await userOf(server, registered.userId)).credentialCount, 1);
  }));

test("a cancelled sign-in shows an error and changes nothing", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const authenticator = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const registered = await register(page, "carol");
    assert.equal(registered.text, "Registered carol");
    const before = await snapshot(server, registered.userId);
    const [heldBefore] = await authenticatorCredentials(cdp, authenticator);

    await setUserVerified(cdp, authenticator, false);
    for (const name of ["carol", ""]) {
      const result = await signIn(page, name);
      assert.equal(result.state, "error", `sign-in ${JSON.stringify(name)}`);
      assert.equal(result.text, CANCELLED);
      assert.equal(result.userId, null);
    }

    assert.deepEqual(await snapshot(server, registered.userId), before);
    assert.equal(before.credentials[0].lastUsedAt, null);
    const [heldAfter] = await authenticatorCredentials(cdp, authenticator);
    assert.equal(heldAfter.signCount, heldBefore.signCount, "the authenticator signed nothing");
  }));

test("an authenticator without a passkey for this site cannot sign in", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const owner = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const registered = await register(page, "grace");
    assert.equal(registered.text, "Registered grace");
    const before = await snapshot(server, registered.userId);

    // Another person's key, which holds nothing for localhost.
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: owner });
    const stranger = await addAuthenticator(cdp, AUTHENTICATORS.roamingPasskey);

    // Without a user name: the key has no passkey to offer, and the browser says so at once.
    const usernameless = await signIn(page, "");
    assert.equal(usernameless.state, "error");
    assert.equal(usernameless.text, CANCELLED);

    // By user name: the options name grace's credential, which this key does not hold; the
    // browser waits for the user, who gives up.
    const requests = recordAnswers(page, "/webauthn/authentication/request");
    const named = await withCeremonyTimeout(page, GIVE_UP_MS, () => signIn(page, "grace"));
    assert.equal(named.state, "error");
    assert.equal(named.text, CANCELLED);
    assert.deepEqual(
      requests.at(-1).publicKeyCredentialRequestOptions.allowCredentials.map((c) => c.id),
      [registered.credentialId],
    );
    await screenshot(page, "wrong-authenticator");

    assert.equal((await authenticatorCredentials(cdp, stranger)).length, 0);
    assert.deepEqual(await snapshot(server, registered.userId), before);
  }));

test("another user's passkey cannot sign in as a named user", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    const graces = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const grace = await register(page, "grace");
    assert.equal(grace.text, "Registered grace");
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: graces });

    const mallorys = await addAuthenticator(cdp, AUTHENTICATORS.roamingPasskey);
    const mallory = await register(page, "mallory");
    assert.equal(mallory.text, "Registered mallory");
    const graceBefore = await snapshot(server, grace.userId);
    const malloryBefore = await snapshot(server, mallory.userId);
    const [heldBefore] = await authenticatorCredentials(cdp, mallorys);

    // On the demo page the browser offers only grace's credential, which mallory's key does
    // not hold: the ceremony ends in the browser and nothing reaches passkeyd's finish.
    const onPage = await withCeremonyTimeout(page, GIVE_UP_MS, () => signIn(page, "grace"));
    assert.equal(onPage.state, "error");
    assert.equal(onPage.text, CANCELLED);
    assert.deepEqual(await snapshot(server, grace.userId), graceBefore);

    // A client that ignores allowCredentials gets mallory's real assertion signed and posts it
    // with the publishable key, as the page would: passkeyd refuses it for grace's session.
    const hostile = await page.evaluate(async () => {
      const key = document.querySelector('meta[name="passkeyd-publishable-key"]').content;
      const post = async (path, body) => {
        const response = await fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Api-Key": key },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
      };
      const begun = await post("/webauthn/authentication/request", { userName: "grace" });
      const options = { ...begun.body.publicKeyCredentialRequestOptions, allowCredentials: [] };
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
      const assertion = await navigator.credentials.get({ publicKey });
      return post("/webauthn/authentication/response", {
        session: begun.body.session,
        publicKeyCredential: assertion.toJSON(),
      });
    });
    assert.equal(hostile.status, 400, JSON.stringify(hostile.body));
    assert.equal(hostile.body.code, "credential_not_allowed");

    // Nothing changed: the attempt named grace's account, but a failed sign-in never counts
    // against the user it names; mallory's credential was not recorded as used.
    assert.deepEqual(await snapshot(server, grace.userId), graceBefore);
    assert.deepEqual(await snapshot(server, mallory.userId), malloryBefore);
    const [heldAfter] = await authenticatorCredentials(cdp, mallorys);
    assert.equal(heldAfter.signCount, heldBefore.signCount + 1, "only the hostile client's signature");

    // Mallory's passkey still signs in as mallory.
    const own = await signIn(page, "");
    assert.equal(own.text, "Signed in as mallory");
  }));
