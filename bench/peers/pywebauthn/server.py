"""A minimal, in-memory server on py_webauthn with passkeyd's native ceremony routes.

bench/compare.sh drives it with passkeyd-loadgen exactly as it drives passkeyd:

    POST /webauthn/registration/request    {userName}           -> {session, publicKeyCredentialCreationOptions}
    POST /webauthn/registration/response   {session, publicKeyCredential} -> {verified, userId, userName, credentialId}
    POST /webauthn/authentication/request  {userName} | {}      -> {session, publicKeyCredentialRequestOptions}
    POST /webauthn/authentication/response {session, publicKeyCredential} -> {verified, userId, userName, credentialId}
    GET  /healthz

Users, credentials and sessions live in dicts: nothing is durable, there are no API keys (the
x-api-key header is ignored), no tokens, no audit log. It is the library's verification plus the
least bookkeeping a server needs, to compare verification stacks, not products.

Run: `python server.py` (uvicorn, one process, uvloop + httptools). Environment: PORT (8092),
HOST (127.0.0.1), RP_ID (localhost), ORIGIN (http://localhost:8080).
"""

import json
import os
import secrets
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

PORT = int(os.environ.get("PORT", "8092"))
HOST = os.environ.get("HOST", "127.0.0.1")
RP_ID = os.environ.get("RP_ID", "localhost")
ORIGIN = os.environ.get("ORIGIN", "http://localhost:8080")
SESSION_TTL_S = 300

# userName -> {"id": base64url user handle, "name", "credentials": [credential IDs]}
users: dict = {}
# credential ID (base64url) -> {"public_key": bytes, "sign_count": int, "user": user}
credentials: dict = {}
# session -> {"kind", "challenge": bytes, "user_name", "user_id", "expires"}
sessions: dict = {}


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def new_session(**data) -> str:
    now = time.monotonic()
    if len(sessions) > 10_000:
        # Expired sessions are swept now and then, as passkeyd does once a minute.
        for key in [k for k, v in sessions.items() if v["expires"] < now]:
            del sessions[key]
    session = secrets.token_urlsafe(24)
    sessions[session] = {**data, "expires": now + SESSION_TTL_S}
    return session


def take_session(session, kind: str) -> dict:
    """Takes a session once: a session is single use, as in passkeyd."""
    data = sessions.pop(session, None) if isinstance(session, str) else None
    if data is None or data["kind"] != kind or data["expires"] < time.monotonic():
        raise ApiError(400, "session_invalid", "unknown or expired session")
    return data


def options_response(session: str, name: str, options) -> Response:
    body = '{"session":%s,"%s":%s}' % (json.dumps(session), name, options_to_json(options))
    return Response(body, media_type="application/json")


def registration_request(body: dict) -> Response:
    user_name = body.get("userName")
    if not isinstance(user_name, str) or not user_name:
        raise ApiError(400, "invalid_request", "userName is required")
    existing = users.get(user_name)
    user_id = b64url_decode(existing["id"]) if existing else secrets.token_bytes(16)
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="passkeyd bench peer",
        user_name=user_name,
        user_id=user_id,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=b64url_decode(c))
            for c in (existing["credentials"] if existing else [])
        ],
    )
    session = new_session(
        kind="registration",
        challenge=options.challenge,
        user_name=user_name,
        user_id=b64url(user_id),
    )
    return options_response(session, "publicKeyCredentialCreationOptions", options)


def registration_response(body: dict) -> dict:
    state = take_session(body.get("session"), "registration")
    try:
        verified = verify_registration_response(
            credential=body.get("publicKeyCredential"),
            expected_challenge=state["challenge"],
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            require_user_verification=False,
        )
    except Exception as error:  # py_webauthn raises one exception class per failed check
        raise ApiError(400, "verification_failed", str(error)) from error
    credential_id = b64url(verified.credential_id)
    if credential_id in credentials:
        raise ApiError(409, "credential_exists", "credential already registered")
    user = users.get(state["user_name"])
    if user is None:
        user = {"id": state["user_id"], "name": state["user_name"], "credentials": []}
        users[user["name"]] = user
    user["credentials"].append(credential_id)
    credentials[credential_id] = {
        "public_key": verified.credential_public_key,
        "sign_count": verified.sign_count,
        "user": user,
    }
    return {"verified": True, "userId": user["id"], "userName": user["name"], "credentialId": credential_id}


def authentication_request(body: dict) -> Response:
    user = None
    if body.get("userName") is not None:
        user = users.get(body["userName"])
        if user is None:
            raise ApiError(404, "user_not_found", "no such user")
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=b64url_decode(c)) for c in (user["credentials"] if user else [])
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    session = new_session(
        kind="authentication",
        challenge=options.challenge,
        user_name=user["name"] if user else None,
    )
    return options_response(session, "publicKeyCredentialRequestOptions", options)


def authentication_response(body: dict) -> dict:
    state = take_session(body.get("session"), "authentication")
    response = body.get("publicKeyCredential") or {}
    credential_id = response.get("id")
    found = credentials.get(credential_id)
    if found is None:
        raise ApiError(400, "credential_not_found", "unknown credential")
    user = found["user"]
    if state["user_name"] is not None and state["user_name"] != user["name"]:
        raise ApiError(400, "credential_not_allowed", "credential of another user")
    user_handle = (response.get("response") or {}).get("userHandle")
    if user_handle and user_handle != user["id"]:
        raise ApiError(400, "user_handle_mismatch", "user handle of another user")
    try:
        verified = verify_authentication_response(
            credential=response,
            expected_challenge=state["challenge"],
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=found["public_key"],
            credential_current_sign_count=found["sign_count"],
            require_user_verification=False,
        )
    except Exception as error:  # py_webauthn raises one exception class per failed check
        raise ApiError(400, "verification_failed", str(error)) from error
    found["sign_count"] = verified.new_sign_count
    return {"verified": True, "userId": user["id"], "userName": user["name"], "credentialId": credential_id}


HANDLERS = {
    "/webauthn/registration/request": registration_request,
    "/webauthn/registration/response": registration_response,
    "/webauthn/authentication/request": authentication_request,
    "/webauthn/authentication/response": authentication_response,
}


async def ceremony(request: Request) -> Response:
    try:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as error:
            raise ApiError(400, "invalid_json", "body is not JSON") from error
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "body is not an object")
        result = HANDLERS[request.url.path](body)
        return result if isinstance(result, Response) else JSONResponse(result)
    except ApiError as error:
        return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[Route(path, ceremony, methods=["POST"]) for path in HANDLERS]
    + [Route("/healthz", healthz, methods=["GET"])]
)

if __name__ == "__main__":
    uvicorn.run(app, host=HOST, port=PORT, log_level="warning", access_log=False, loop="uvloop", http="httptools")
