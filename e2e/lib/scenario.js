// One scenario: its own server (fresh data directory, port and key), its own browser context on
// the demo page, and cleanup whatever happens. A failure keeps a screenshot and the server log.

import assert from "node:assert/strict";

import { openDemo, screenshot } from "./browser.js";
import { removeDataDir, startServer } from "./server.js";

function slug(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 80);
}

/**
 * Runs `body(ctx)` with `ctx = { server, page, cdp, context, consoleErrors, restart }`.
 *
 * `ctx.restart(between?)` stops the server, runs `between(server)` (for example a CLI command on
 * the same data directory), and starts it again with the same data directory, port and key;
 * `ctx.server` is then the new process.
 */
export async function scenario(t, browser, body) {
  const ctx = { server: await startServer() };
  const { dataDir, key, port } = ctx.server;
  let demo;
  try {
    demo = await openDemo(browser, ctx.server);
    Object.assign(ctx, demo);
    ctx.restart = async (between) => {
      await ctx.server.stop();
      if (between) {
        await between(ctx.server);
      }
      ctx.server = await startServer({ dataDir, key, port });
    };
    await body(ctx);
    // The page's own script must not have thrown or logged errors (CSP, Trusted Types, ...).
    // Failed ceremonies log nothing; a 4xx answer may show as a failed resource load.
    const unexpected = demo.consoleErrors.filter((m) => !/Failed to load resource/.test(m));
    assert.deepEqual(unexpected, [], "the page logged errors");
  } catch (e) {
    if (demo) {
      const name = `failed-${slug(t.fullName ?? t.name)}`;
      const path = await screenshot(demo.page, name).catch(() => null);
      if (path) {
        e.message += `\nscreenshot: ${path}`;
      }
    }
    const log = ctx.server.log().trim();
    if (log !== "") {
      e.message += `\n--- passkeyd log (last lines) ---\n${log.split("\n").slice(-30).join("\n")}`;
    }
    throw e;
  } finally {
    await demo?.context.close().catch(() => {});
    await ctx.server.stop();
    removeDataDir(dataDir);
  }
}

/** Secret-key API helpers shared by the scenarios; each asserts the HTTP status. */
export async function userOf(server, userId) {
  const answer = await server.api("GET", `/users/${encodeURIComponent(userId)}`);
  assert.equal(answer.status, 200, `GET /users/${userId}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export async function credentialsOf(server, userId) {
  const answer = await server.api("GET", `/users/${encodeURIComponent(userId)}/credentials`);
  assert.equal(
    answer.status,
    200,
    `GET /users/${userId}/credentials: ${JSON.stringify(answer.body)}`,
  );
  return answer.body.credentials;
}

/**
 * Whether a user of this name exists, asked the only way the API can by name: a secret-key
 * sign-in begin, which answers 404 for an unknown user and otherwise lists the user's
 * credentials in allowCredentials (it stores only a ceremony session, which expires).
 */
export async function userNamed(server, userName) {
  const answer = await server.api("POST", "/webauthn/authentication/request", { userName });
  if (answer.status === 404) {
    return null;
  }
  if (answer.status === 409 && answer.body.code === "no_credentials") {
    return { allowCredentials: [] };
  }
  assert.equal(answer.status, 200, `authentication/request: ${JSON.stringify(answer.body)}`);
  return { allowCredentials: answer.body.publicKeyCredentialRequestOptions.allowCredentials };
}

/**
 * A user token for `userId`, minted with the secret key (`POST /users/{userId}/tokens`): what
 * the app's backend would hand a user it signed in, to call the /me routes as them.
 */
export async function userToken(server, userId) {
  const answer = await server.api("POST", `/users/${encodeURIComponent(userId)}/tokens`, {});
  assert.equal(answer.status, 200, `POST /users/${userId}/tokens: ${JSON.stringify(answer.body)}`);
  return answer.body.token;
}

/** The tenant's audit entries with `action`, newest first (secret key, `GET /audit`). */
export async function auditEntries(server, action) {
  const answer = await server.api("GET", `/audit?action=${encodeURIComponent(action)}`);
  assert.equal(answer.status, 200, `GET /audit: ${JSON.stringify(answer.body)}`);
  return answer.body.events;
}
