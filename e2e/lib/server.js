// The real passkeyd binary, one per test: a fresh data directory, a free port on 127.0.0.1, the
// origin http://localhost:<port> and a generated secret API key for the `default` tenant.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";

const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The binary under test: `PASSKEYD_BIN`, relative paths taken from e2e/. */
export const PASSKEYD_BIN = resolve(
  E2E_DIR,
  process.env.PASSKEYD_BIN || "../target/debug/passkeyd",
);

/** Servers still running, killed when the test process exits whatever happened. */
const running = new Set();
function killAll() {
  for (const child of running) {
    child.kill("SIGKILL");
  }
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAll();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

/** A secret key in passkeyd's format: `sk_` + 12 base64url chars + `_` + 43 base64url chars. */
export function newSecretKey() {
  return `sk_${randomBytes(9).toString("base64url")}_${randomBytes(32).toString("base64url")}`;
}

/** A port that was free a moment ago (the server binds it right after). */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/** A fresh data directory, removed by `removeDataDir`. */
export function newDataDir() {
  return mkdtempSync(join(tmpdir(), "passkeyd-e2e-"));
}

export function removeDataDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

function serverEnv({ dataDir, port, key }) {
  const env = {};
  // Only what the test sets: an operator's PASSKEYD_* variables must not leak into the run.
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("PASSKEYD_")) {
      env[name] = value;
    }
  }
  return {
    ...env,
    PASSKEYD_DATA_DIR: dataDir,
    PASSKEYD_LISTEN: `127.0.0.1:${port}`,
    PASSKEYD_ORIGINS: `http://localhost:${port}`,
    PASSKEYD_BOOTSTRAP_API_KEY: key,
    RUST_LOG: process.env.RUST_LOG || "warn",
  };
}

/**
 * Runs a `passkeyd` command (not `serve`) against the data directory; resolves to its stdout,
 * rejects with its output when it exits non-zero.
 */
export async function runCli(args, { dataDir, port, key }) {
  const child = spawn(PASSKEYD_BIN, args, {
    env: serverEnv({ dataDir, port, key }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (out += chunk));
  const code = await new Promise((resolveCode, reject) => {
    child.on("error", reject);
    child.on("close", resolveCode);
  });
  if (code !== 0) {
    throw new Error(`passkeyd ${args.join(" ")} exited with ${code}:\n${out}`);
  }
  return out;
}

/**
 * Starts `passkeyd serve` and waits until `GET /readyz` answers 200.
 *
 * `options` may give `dataDir`, `port` and `key` to start again on the same state; otherwise
 * each is new. The answer has `url` (http://localhost:port), `api()` and `stop()`.
 */
export async function startServer(options = {}) {
  const dataDir = options.dataDir ?? newDataDir();
  const key = options.key ?? newSecretKey();
  let lastError;
  // A port picked as free can be taken before the server binds it; pick again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await launch({ dataDir, port, key });
    } catch (e) {
      lastError = e;
      if (options.port !== undefined || !/cannot listen/.test(e.message)) {
        break;
      }
    }
  }
  if (options.dataDir === undefined) {
    removeDataDir(dataDir);
  }
  throw lastError;
}

async function launch({ dataDir, port, key }) {
  const child = spawn(PASSKEYD_BIN, ["serve"], {
    env: serverEnv({ dataDir, port, key }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let log = "";
  const keep = (chunk) => {
    log += chunk;
    if (log.length > 200_000) {
      log = log.slice(-100_000);
    }
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolveExit) => {
    child.on("error", (e) => {
      keep(`spawn ${PASSKEYD_BIN}: ${e.message}\n`);
      resolveExit(-1);
    });
    child.on("exit", (code, signal) => resolveExit(signal ?? code));
  });
  exited.then(() => running.delete(child));

  const base = `http://127.0.0.1:${port}`;
  const server = {
    port,
    key,
    dataDir,
    /** The page's address: a host name, because an RP ID is never an IP address. */
    url: `http://localhost:${port}`,
    log: () => log,
    /**
     * Calls the API with the secret key, or with `Authorization: Bearer <token>` when a user
     * token is given (the /me routes); resolves to { status, body }.
     */
    async api(method, path, body, token) {
      const response = await fetch(base + path, {
        method,
        headers: {
          ...(token === undefined ? { "X-Api-Key": key } : { Authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let json = null;
      try {
        json = text === "" ? null : JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: response.status, body: json };
    },
    /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves once it has exited. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
    },
  };

  const deadline = Date.now() + 20_000;
  let exitedEarly = null;
  exited.then((status) => (exitedEarly = { status }));
  for (;;) {
    if (exitedEarly) {
      throw new Error(
        `${PASSKEYD_BIN} serve exited (${exitedEarly.status}) before it was ready:\n${log}`,
      );
    }
    try {
      const response = await fetch(`${base}/readyz`);
      if (response.status === 200) {
        return server;
      }
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`passkeyd serve was not ready within 20 s:\n${log}`);
    }
    await delay(50);
  }
}
