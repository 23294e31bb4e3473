// Scenario 6: the account page. After a sign-in the page lists the user's passkeys from
// `GET /me/credentials` (with the result token as `Authorization: Bearer`), and renames and
// deletes them through `PATCH` / `DELETE /me/credentials/{id}`; each change is checked in what
// passkeyd stored, through the secret-key API.

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
  passkeyItem,
  register,
  screenshot,
  setPresence,
  signIn,
  signOut,
} from "../lib/browser.js";
import { auditEntries, credentialsOf, scenario, userOf } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** What the page shows of a stored credential, derived from the secret-key API's view. */
function expectedListing(stored, signedInWith) {
  return {
    credentialId: stored.credentialId,
    name: stored.friendlyName ?? stored.authenticatorName ?? "Passkey",
    createdAt: stored.createdAt,
    lastUsedAt: stored.lastUsedAt,
    sync: stored.backupEligible ? (stored.backupState ? "synced" : "sync-capable") : "device-bound",
    current: stored.credentialId === signedInWith,
  };
}

/**
 * passkeyd lists a user's credentials oldest first, by the second: two made in the same second
 * come in credential-ID order. The tests find each by its ID.
 */
function byId(list, credentialId) {
  const found = list.find((c) => c.credentialId === credentialId);
  assert.ok(found, `credential ${credentialId} is listed`);
  return found;
}

/** The page's list and the stored credentials, each in the same (passkeyd's) order. */
async function compareListing(server, page, userId, signedInWith) {
  const stored = await credentialsOf(server, userId);
  const shown = await listedPasskeys(page);
  assert.deepEqual(
    shown.map(listing),
    stored.map((c) => expectedListing(c, signedInWith)),
  );
  return { stored, shown };
}

function listing(shown) {
  return {
    credentialId: shown.credentialId,
    name: shown.name,
    createdAt: shown.createdAt,
    lastUsedAt: shown.lastUsedAt,
    sync: shown.sync,
    current: shown.current,
  };
}

test("the account page lists the passkeys, renames one and deletes one", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    // A laptop's platform authenticator and a security key with a PIN; the one whose presence
    // is simulated is the one the user touches.
    const laptop = await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const key = await addAuthenticator(cdp, {
      ...AUTHENTICATORS.roamingPasskey,
      automaticPresenceSimulation: false,
    });

    const registered = await register(page, "alice");
    assert.equal(registered.text, "Registered alice");
    // A registration's token is not accepted at /me: the page asks for a sign-in.
    assert.equal(registered.signedIn, false);
    assert.equal(await page.getByTestId("next-step").isVisible(), true);

    const signedIn = await signIn(page, "alice");
    assert.equal(signedIn.text, "Signed in as alice");
    assert.equal(signedIn.signedIn, true);
    assert.equal(await page.getByTestId("account-name").textContent(), "alice");
    assert.equal(await page.getByTestId("next-step").isVisible(), false);

    // The list is what passkeyd stored, the sign-in's lastUsedAt included.
    const compare = () => compareListing(server, page, registered.userId, signedIn.credentialId);
    let { stored, shown } = await compare();
    assert.equal(stored.length, 1);
    assert.notEqual(stored[0].lastUsedAt, null);
    // Chromium's virtual authenticator has an AAGUID no list knows: no name is invented, the
    // page says the model is not in passkeyd's list and shows the AAGUID.
    assert.equal(stored[0].authenticatorName, null);
    assert.equal(shown[0].model, `Model not in passkeyd's list (AAGUID ${stored[0].aaguid})`);
    assert.equal(shown[0].kind, "platform", "transports [internal]");
    assert.equal(shown[0].kindLabel, "Built into a device");
    assert.equal(shown[0].syncLabel, "Device-bound");
    assert.equal(await page.getByTestId("passkey-count").textContent(), "1 passkey");

    // A second passkey on the security key, added on the page as a second factor.
    await setPresence(cdp, laptop, false);
    await setPresence(cdp, key, true);
    const added = await addSecondFactor(page, "Desk key");
    assert.equal(added.state, "ok", added.text);
    const [held] = await authenticatorCredentials(cdp, key);
    ({ stored, shown } = await compare());
    assert.equal(stored.length, 2);
    assert.equal(byId(stored, held.id).friendlyName, "Desk key");
    assert.equal(byId(shown, held.id).kind, "security-key", "transports [usb]");
    assert.equal(byId(shown, held.id).lastUsedText, "Never");
    await page.getByTestId("codes-done").click();

    // Rename the laptop's passkey: the inline form, Enter to save.
    const laptopItem = passkeyItem(page, signedIn.credentialId);
    await laptopItem.getByTestId("rename").click();
    const renameInput = laptopItem.getByTestId("rename-input");
    assert.equal(await hasFocus(renameInput), true);
    await renameInput.fill("Work laptop");
    await renameInput.press("Enter");
    await page.getByTestId("status").filter({ hasText: "Renamed the passkey" }).waitFor();
    assert.equal(await page.getByTestId("status").textContent(),
      "Renamed the passkey to “Work laptop”.");
    assert.equal(await laptopItem.getByTestId("passkey-name").textContent(), "Work laptop");
    const laptopName = async () =>
      byId(await credentialsOf(server, registered.userId), signedIn.credentialId).friendlyName;
    assert.equal(await laptopName(), "Work laptop");
    // docs/demo.png (PASSKEYD_E2E_UPDATE_DEMO_PNG=1), without the focus ring.
    await page.evaluate(() => document.activeElement?.blur());
    await screenshot(page, "demo-signed-in");

    // Escape leaves the form without a change.
    await laptopItem.getByTestId("rename").click();
    await laptopItem.getByTestId("rename-input").fill("Something else");
    await laptopItem.getByTestId("rename-input").press("Escape");
    assert.equal(await laptopItem.getByTestId("rename-form").isVisible(), false);
    assert.equal(await hasFocus(laptopItem.getByTestId("rename")), true);
    assert.equal(await laptopName(), "Work laptop");

    // A name passkeyd refuses (control characters) is reported, and nothing changes.
    await laptopItem.getByTestId("rename").click();
    await laptopItem.getByTestId("rename-input").evaluate((e) => {
      e.value = "tab\there";
    });
    await laptopItem.getByTestId("rename-save").click();
    await page.getByTestId("status").filter({ hasText: "(invalid_request)" }).waitFor();
    assert.equal(await page.getByTestId("status").getAttribute("data-state"), "error");
    assert.equal(await laptopName(), "Work laptop");
    await laptopItem.getByTestId("rename-cancel").click();

    // Delete the security key's passkey: "Keep it" first changes nothing.
    const keyItem = passkeyItem(page, held.id);
    await keyItem.getByTestId("delete").click();
    assert.match(await keyItem.getByTestId("delete-confirm").textContent(),
      /Delete “Desk key”\? It will no longer sign in to this account\./);
    await keyItem.getByTestId("delete-keep").click();
    assert.equal(await keyItem.getByTestId("delete-confirm").isVisible(), false);
    assert.equal((await credentialsOf(server, registered.userId)).length, 2);

    await keyItem.getByTestId("delete").click();
    await keyItem.getByTestId("delete-yes").click();
    await keyItem.waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("status").textContent(), "Deleted “Desk key”.");
    assert.equal(await page.getByTestId("passkey-count").textContent(), "1 passkey");
    stored = await credentialsOf(server, registered.userId);
    assert.deepEqual(stored.map((c) => c.credentialId), [signedIn.credentialId]);
    assert.deepEqual((await listedPasskeys(page)).map((p) => p.credentialId),
      [signedIn.credentialId]);
    const [deletion] = await auditEntries(server, "credential.delete");
    assert.equal(deletion.actor, `user:${registered.userId}`, "deleted as the user, at /me");
    assert.equal(deletion.outcome, "success");

    // The deleted passkey can no longer sign in; the security key still holds it.
    await signOut(page);
    const refused = await signIn(page, "");
    assert.equal(refused.state, "error");
    assert.equal(refused.text, "Error: this credential is not registered (credential_unknown)");
    assert.equal(refused.signedIn, false);
    assert.equal((await authenticatorCredentials(cdp, key)).length, 1);

    // The renamed one still does.
    await setPresence(cdp, key, false);
    await setPresence(cdp, laptop, true);
    const again = await signIn(page, "alice");
    assert.equal(again.text, "Signed in as alice");
    assert.deepEqual((await listedPasskeys(page)).map((p) => p.name), ["Work laptop"]);
    assert.equal((await userOf(server, registered.userId)).credentialCount, 1);
  }));

test("deleting the last passkey warns first, and the page says what it means", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    await addAuthenticator(cdp, AUTHENTICATORS.platform);
    const registered = await register(page, "dora");
    const signedIn = await signIn(page, "dora");
    assert.equal(signedIn.text, "Signed in as dora");

    const item = passkeyItem(page, registered.credentialId);
    await item.getByTestId("delete").click();
    assert.match(await item.getByTestId("delete-confirm").textContent(),
      /It is your last passkey: without another one you cannot sign in again\./);
    // The safe choice has the focus.
    assert.equal(await hasFocus(item.getByTestId("delete-keep")), true);
    await item.getByTestId("delete-yes").click();
    await page.getByTestId("passkeys-note").waitFor({ state: "visible" });
    assert.match(await page.getByTestId("passkeys-note").textContent(), /no passkeys left/);
    assert.deepEqual(await credentialsOf(server, registered.userId), []);

    await signOut(page);
    const refused = await signIn(page, "");
    assert.equal(refused.text, "Error: this credential is not registered (credential_unknown)");
  }));
