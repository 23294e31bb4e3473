// Scenario 10: the page works from the keyboard alone. Tab reaches the user-name field and the
// buttons in order, each with a visible focus ring, Enter creates the passkey and signs in, and
// the account page's controls (rename, sign out) answer to Tab and Enter too.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AUTHENTICATORS,
  addAuthenticator,
  launchBrowser,
  pageState,
  screenshot,
  startCeremony,
} from "../lib/browser.js";
import { credentialsOf, scenario } from "../lib/scenario.js";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The focused element: its test id, and whether the focus ring shows. */
function focused(page) {
  return page.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    return {
      testId: element.dataset.testid ?? element.id ?? null,
      ring: element.matches(":focus-visible") && style.outlineStyle === "solid" &&
        parseFloat(style.outlineWidth) >= 2,
    };
  });
}

async function tabTo(page, testId, key = "Tab") {
  await page.keyboard.press(key);
  const now = await focused(page);
  assert.equal(now.testId, testId, `${key} moves the focus to ${testId}`);
  assert.equal(now.ring, true, `${testId} shows a focus ring`);
}

async function pressEnter(page, what) {
  const outcome = await startCeremony(page, what, () => page.keyboard.press("Enter"));
  return outcome();
}

test("sign-up, sign-in, rename and sign-out with Tab and Enter only", (t) =>
  scenario(t, browser, async ({ server, page, cdp }) => {
    await addAuthenticator(cdp, AUTHENTICATORS.platform);

    await tabTo(page, "username");
    await page.keyboard.type("kim");
    await tabTo(page, "register");
    const registered = await pressEnter(page, "register");
    assert.equal(registered.text, "Registered kim");
    assert.equal((await focused(page)).testId, "register", "the focus stays on the button");

    await tabTo(page, "signin");
    assert.equal(await page.getByTestId("signin").textContent(), "Sign in");
    await screenshot(page, "keyboard-focus");
    const signedIn = await pressEnter(page, "signin");
    assert.equal(signedIn.text, "Signed in as kim");
    assert.equal(signedIn.signedIn, true);
    // The focus moves to the account's heading, so the next Tab starts on the account page.
    assert.equal(await page.evaluate(() => document.activeElement.id), "account-title");

    await tabTo(page, "signout");
    await tabTo(page, "rename");
    await page.keyboard.press("Enter");
    assert.equal((await focused(page)).testId, "rename-input");
    await page.keyboard.type("Keyboard laptop");
    await page.keyboard.press("Enter");
    await page.getByTestId("status").filter({ hasText: "Renamed the passkey" }).waitFor();
    assert.equal((await focused(page)).testId, "rename", "the focus returns to Rename");
    const [stored] = await credentialsOf(server, registered.userId);
    assert.equal(stored.friendlyName, "Keyboard laptop");

    await tabTo(page, "signout", "Shift+Tab");
    await page.keyboard.press("Enter");
    await page.getByTestId("signed-out").waitFor({ state: "visible" });
    const signedOut = await pageState(page);
    assert.equal(signedOut.signedIn, false);
    assert.equal(signedOut.text, "Signed out. The page has forgotten your token.");
    assert.equal((await focused(page)).testId, "username");
  }));
