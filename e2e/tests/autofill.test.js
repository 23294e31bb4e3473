// Scenario 8: passkey autofill (conditional mediation). When
// `PublicKeyCredential.isConditionalMediationAvailable()` is true, the page starts a
// `navigator.credentials.get({mediation: "conditional"})` on load, with usernameless options,
// so the browser offers the site's passkeys in the user-name field's suggestions; a modal
// ceremony first aborts it (AbortController).
//
// Chromium with DevTools virtual authenticators completes conditional UI: it reports
// conditional mediation available once an authenticator is attached, and where an attached
// authenticator simulates user presence and holds a discoverable credential for the site, it
// answers the conditional request with it at once, as a user picking it from the suggestions
// would. Without simulated presence the request stays pending, which is how these tests hold
// it open to check that a modal ceremony aborts it.
//
// A spy (an init script) wraps navigator.credentials.get/create and records each call's
// mediation, when its signal was aborted and how it ended, in the order they happened.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  authenticatorCredentials,
  launchBrowser,
  listedPasskeys,
  recordAnswers,
  register,
  screenshot,
  setPresence,
  settled,
  waitForAutofill,
} from "../lib/browser.js";
import { credentialsOf, scenario, userNamed } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Installs the WebAuthn spy for the next load of `page`. */
async function spyOnWebAuthn(page) {
  await page.addInitScript(() => {
    const events = [];
    const calls = [];
    window.__e2eWebAuthn = { events, calls };
    for (const method of ["get", "create"]) {
      const original = navigator.credentials[method].bind(navigator.credentials);
      navigator.credentials[method] = (options = {}) => {
        const call = { method, mediation: options.mediation ?? null, outcome: "pending" };
        const index = calls.push(call) - 1;
        events.push(`${method}#${index} called`);
        options.signal?.addEventListener("abort", () => events.push(`${method}#${index} aborted`));
        const promise = original(options);
        promise.then(
          () => {
            call.outcome = "resolved";
            events.push(`${method}#${index} resolved`);
          },
          (e) => {
            call.outcome = e.name;
            events.push(`${method}#${index} ${e.name}`);
          },
        );
        return promise;
      };
    }
  });
}

function spied(page) {
  return page.evaluate(() => structuredClone(window.__e2eWebAuthn));
}

test("autofill signs in with the passkey the browser offers in the user-name field", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    // The page loaded before any authenticator was attached: Chromium said conditional
    // mediation is unavailable, so the page did not start it.
    assert.equal(await page.locator("#demo-form").getAttribute("data-autofill"), "off");
    const field = page.getByTestId("username");
    assert.equal(await field.getAttribute("autocomplete"), "username webauthn");
    const authenticator = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const registered = await register(page, "alice");
    assert.equal(registered.text, "Registered alice");
    const [heldBefore] = await authenticatorCredentials(cdp, authenticator);

    // A fresh load: the page starts autofill with usernameless options, the authenticator
    // answers it, and the page signs in without a click.
    await spyOnWebAuthn(page);
    const requests = recordAnswers(page, "/webauthn/authentication/request");
    await page.reload();
    await waitForAutofill(page, "used");
    const signedIn = await settled(page);
    assert.equal(signedIn.state, "ok");
    assert.equal(signedIn.text, "Signed in as alice");
    assert.equal(signedIn.signedIn, true);
    assert.equal(signedIn.userId, registered.userId);
    assert.equal(signedIn.credentialId, registered.credentialId);

    const { calls } = await spied(page);
    assert.deepEqual(calls, [{ method: "get", mediation: "conditional", outcome: "resolved" }]);
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0].publicKeyCredentialRequestOptions.allowCredentials ?? [], []);

    // passkeyd recorded the sign-in, and the account page lists the passkey as the one used.
    const [stored] = await credentialsOf(server, registered.userId);
    assert.notEqual(stored.lastUsedAt, null);
    const [heldAfter] = await authenticatorCredentials(cdp, authenticator);
    assert.ok(heldAfter.signCount > heldBefore.signCount, "the authenticator signed");
    const [listed] = await listedPasskeys(page);
    assert.equal(listed.current, true);
    assert.equal(listed.lastUsedAt, stored.lastUsedAt);
    await screenshot(page, "autofill-signed-in");
  }));

test("a modal ceremony aborts the pending autofill request before it starts", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    // alice's passkey on the laptop, and a security key for bob; neither simulates presence
    // while the page loads, so the autofill request stays pending.
    const laptop = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const key = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.roamingPasskey,
      automaticPresenceSimulation: false,
    });
    const alice = await register(page, "alice");
    assert.equal(alice.text, "Registered alice");
    await setPresence(cdp, laptop, false);

    await spyOnWebAuthn(page);
    await page.reload();
    await waitForAutofill(page, "waiting");
    let spy = await spied(page);
    assert.deepEqual(spy.calls, [{ method: "get", mediation: "conditional", outcome: "pending" }]);

    // bob creates a passkey on the security key: the page aborts the autofill request, and
    // the browser has let go of it (AbortError) before the modal create is called.
    await setPresence(cdp, key, true);
    const bob = await register(page, "bob");
    assert.equal(bob.text, "Registered bob");
    assert.equal(bob.state, "ok");
    spy = await spied(page);
    assert.deepEqual(spy.calls.slice(0, 2), [
      { method: "get", mediation: "conditional", outcome: "AbortError" },
      { method: "create", mediation: null, outcome: "resolved" },
    ]);
    assert.deepEqual(spy.events.slice(0, 5), [
      "get#0 called",
      "get#0 aborted",
      "get#0 AbortError",
      "create#1 called",
      "create#1 resolved",
    ]);
    const [bobsKey] = await authenticatorCredentials(cdp, key);
    assert.equal(bobsKey.userName, "bob");
    assert.equal((await userNamed(server, "bob")).allowCredentials.length, 1);
    // alice's passkey was not used by the aborted request.
    const [alicesPasskey] = await credentialsOf(server, alice.userId);
    assert.equal(alicesPasskey.lastUsedAt, null);

    // After the ceremony the page offers autofill again: a new conditional request, which the
    // security key (presence simulated, bob's passkey) answers, so bob is signed in.
    await waitForAutofill(page, "used");
    const signedIn = await settled(page);
    assert.equal(signedIn.text, "Signed in as bob");
    assert.equal(signedIn.credentialId, bobsKey.id);
    spy = await spied(page);
    assert.deepEqual(spy.calls.slice(2), [
      { method: "get", mediation: "conditional", outcome: "resolved" },
    ]);
  }));
