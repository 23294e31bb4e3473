// A minimal, in-memory server on @simplewebauthn/server with passkeyd's native ceremony routes,
// so that bench/compare.sh can drive it with passkeyd-loadgen exactly as it drives passkeyd.
//
//   POST /webauthn/registration/request   {userName}            -> {session, publicKeyCredentialCreationOptions}
//   POST /webauthn/registration/response  {session, publicKeyCredential} -> {verified, userId, userName, credentialId}
//   POST /webauthn/authentication/request {userName} | {}       -> {session, publicKeyCredentialRequestOptions}
//   POST /webauthn/authentication/response {session, publicKeyCredential} -> {verified, userId, userName, credentialId}
//   GET  /healthz
//
// Users, credentials and sessions live in Maps: nothing is durable, there are no API keys (the
// x-api-key header is ignored), no tokens, no audit log. It is the library's verification plus
// the least bookkeeping a server needs, to compare verification stacks, not products.
//
// Environment: PORT (8091), HOST (127.0.0.1), RP_ID (localhost), ORIGIN (http://localhost:8080).

import { randomBytes } from 'node:crypto';
import http from 'node:http';

import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';

const PORT = Number(process.env.PORT ?? 8091);
const HOST = process.env.HOST ?? '127.0.0.1';
const RP_ID = process.env.RP_ID ?? 'localhost';
const ORIGIN = process.env.ORIGIN ?? 'http://localhost:8080';
const SESSION_TTL_MS = 5 * 60 * 1000;

/** userName -> {id (base64url user handle), name, credentials: [WebAuthnCredential]} */
const users = new Map();
/** credential ID (base64url) -> {credential, user} */
const credentials = new Map();
/** session -> {kind, challenge, user?, userName?, userID?, expires} */
const sessions = new Map();

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function newSession(data) {
  const session = b64url(randomBytes(24));
  sessions.set(session, { ...data, expires: Date.now() + SESSION_TTL_MS });
  return session;
}

/** Takes a session once: a session is single use, as in passkeyd. */
function takeSession(session, kind) {
  const data = typeof session === 'string' ? sessions.get(session) : undefined;
  if (data === undefined || data.kind !== kind || data.expires < Date.now()) {
    throw new ApiError(400, 'session_invalid', 'unknown or expired session');
  }
  sessions.delete(session);
  return data;
}

async function registrationRequest(body) {
  const userName = body.userName;
  if (typeof userName !== 'string' || userName === '') {
    throw new ApiError(400, 'invalid_request', 'userName is required');
  }
  const existing = users.get(userName);
  const userID = existing ? Buffer.from(existing.id, 'base64url') : randomBytes(16);
  const options = await generateRegistrationOptions({
    rpName: 'passkeyd bench peer',
    rpID: RP_ID,
    userName,
    userID,
    attestationType: 'none',
    excludeCredentials: (existing?.credentials ?? []).map((c) => ({
      id: c.id,
      transports: c.transports,
    })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  const session = newSession({
    kind: 'registration',
    challenge: options.challenge,
    userName,
    userID: b64url(userID),
  });
  return { session, publicKeyCredentialCreationOptions: options };
}

async function registrationResponse(body) {
  const state = takeSession(body.session, 'registration');
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response: body.publicKeyCredential,
      expectedChallenge: state.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      requireUserVerification: false,
    });
  } catch (error) {
    throw new ApiError(400, 'verification_failed', String(error?.message ?? error));
  }
  if (!verification.verified) {
    throw new ApiError(400, 'verification_failed', 'registration not verified');
  }
  const { credential } = verification.registrationInfo;
  if (credentials.has(credential.id)) {
    throw new ApiError(409, 'credential_exists', 'credential already registered');
  }
  let user = users.get(state.userName);
  if (user === undefined) {
    user = { id: state.userID, name: state.userName, credentials: [] };
    users.set(user.name, user);
  }
  user.credentials.push(credential);
  credentials.set(credential.id, { credential, user });
  return { verified: true, userId: user.id, userName: user.name, credentialId: credential.id };
}

async function authenticationRequest(body) {
  let user;
  if (body.userName !== undefined) {
    user = users.get(body.userName);
    if (user === undefined) {
      throw new ApiError(404, 'user_not_found', 'no such user');
    }
  }
  const options = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: (user?.credentials ?? []).map((c) => ({ id: c.id, transports: c.transports })),
    userVerification: 'preferred',
  });
  const session = newSession({
    kind: 'authentication',
    challenge: options.challenge,
    userName: user?.name,
  });
  return { session, publicKeyCredentialRequestOptions: options };
}

async function authenticationResponse(body) {
  const state = takeSession(body.session, 'authentication');
  const response = body.publicKeyCredential;
  const found = credentials.get(response?.id);
  if (found === undefined) {
    throw new ApiError(400, 'credential_not_found', 'unknown credential');
  }
  const { credential, user } = found;
  if (state.userName !== undefined && state.userName !== user.name) {
    throw new ApiError(400, 'credential_not_allowed', 'credential of another user');
  }
  const userHandle = response.response?.userHandle;
  if (userHandle !== undefined && userHandle !== null && userHandle !== user.id) {
    throw new ApiError(400, 'user_handle_mismatch', 'user handle of another user');
  }
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: state.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential,
      requireUserVerification: false,
    });
  } catch (error) {
    throw new ApiError(400, 'verification_failed', String(error?.message ?? error));
  }
  if (!verification.verified) {
    throw new ApiError(400, 'verification_failed', 'assertion not verified');
  }
  credential.counter = verification.authenticationInfo.newCounter;
  return { verified: true, userId: user.id, userName: user.name, credentialId: credential.id };
}

const routes = {
  '/webauthn/registration/request': registrationRequest,
  '/webauthn/registration/response': registrationResponse,
  '/webauthn/authentication/request': authenticationRequest,
  '/webauthn/authentication/response': authenticationResponse,
};

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    send(res, 200, { status: 'ok' });
    return;
  }
  const handler = req.method === 'POST' ? routes[req.url] : undefined;
  if (handler === undefined) {
    send(res, 404, { code: 'not_found', message: 'no such route' });
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new ApiError(400, 'invalid_json', 'body is not JSON');
      }
      send(res, 200, await handler(body ?? {}));
    } catch (error) {
      if (error instanceof ApiError) {
        send(res, error.status, { code: error.code, message: error.message });
      } else {
        send(res, 500, { code: 'internal', message: String(error?.message ?? error) });
      }
    }
  });
});

// Expired sessions are swept once a minute, as passkeyd does.
setInterval(() => {
  const now = Date.now();
  for (const [session, data] of sessions) {
    if (data.expires < now) sessions.delete(session);
  }
}, 60_000).unref();

server.keepAliveTimeout = 60_000;
server.listen(PORT, HOST, () => {
  console.log(`simplewebauthn peer on http://${HOST}:${PORT} (RP ID ${RP_ID}, origin ${ORIGIN})`);
});
