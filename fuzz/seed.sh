#!/usr/bin/env bash
# Extracts seed inputs for every fuzz target from the vector corpus
# (crates/webauthn/tests/vectors/**/*.json) into fuzz/corpus/<target>/.
#
#   client_data          the decoded clientDataJSON of every case
#   authenticator_data   authData from each attestationObject, and each assertion's authenticatorData
#   attestation_object   the decoded attestationObject of every registration
#   cose_key             every credential public key (COSE_Key bytes)
#   registration_json    each registration response JSON, plus the hints fuzz/src/lib.rs reads
#   authentication_json  each authentication response JSON, plus the stored key and counter hints
#
# Seeds are named by the SHA-1 of their content, as libFuzzer names corpus entries, so running this
# again adds nothing twice. fuzz/corpus/ is not committed (see the root .gitignore).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$here/../crates/webauthn/tests/vectors"
corpus="${1:-$here/corpus}"

python3 - "$vectors" "$corpus" <<'PY'
import base64
import datetime
import hashlib
import json
import pathlib
import sys

vectors, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
TARGETS = ["client_data", "authenticator_data", "attestation_object", "cose_key",
           "registration_json", "authentication_json"]
for target in TARGETS:
    (corpus / target).mkdir(parents=True, exist_ok=True)

def b64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

counts = dict.fromkeys(TARGETS, 0)
def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    path = corpus / target / hashlib.sha1(data).hexdigest()
    if not path.exists():
        path.write_bytes(data)
        counts[target] += 1

def cbor_item_end(data, i):
    """Index just past the CBOR item starting at data[i] (definite lengths only)."""
    major, info = data[i] >> 5, data[i] & 0x1f
    i += 1
    if info < 24:
        arg = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        arg = int.from_bytes(data[i:i + size], "big")
        i += size
    else:
        raise ValueError("indefinite length")
    if major in (0, 1, 7):
        return i
    if major in (2, 3):
        return i + arg
    if major == 4:
        for _ in range(arg):
            i = cbor_item_end(data, i)
        return i
    if major == 5:
        for _ in range(2 * arg):
            i = cbor_item_end(data, i)
        return i
    if major == 6:
        return cbor_item_end(data, i)
    raise ValueError("bad major type")

def auth_data_of(attestation_object):
    """authData of an attestation object: the byte string after the text key "authData"."""
    key = b"\x68authData"
    at = attestation_object.find(key)
    if at < 0:
        return None
    start = at + len(key)
    end = cbor_item_end(attestation_object, start)
    major, info = attestation_object[start] >> 5, attestation_object[start] & 0x1f
    if major != 2:
        return None
    skip = 1 + (0 if info < 24 else 1 << (info - 24))
    return attestation_object[start + skip:end]

def credential_key_of(auth_data):
    if len(auth_data) < 37 or not auth_data[32] & 0x40:
        return None
    length = int.from_bytes(auth_data[53:55], "big")
    start = 55 + length
    return auth_data[start:cbor_item_end(auth_data, start)]

def unix(instant):
    return int(datetime.datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp())

for path in sorted(vectors.glob("*/*.json")):
    case = json.loads(path.read_text())
    if not isinstance(case, dict) or "response" not in case:
        continue
    response = case["response"]
    inner = response.get("response", {})
    hints = {"rp_id": case["rp_id"]}
    if case.get("verify_at"):
        hints["now"] = unix(case["verify_at"])
    try:
        if inner.get("clientDataJSON"):
            seed("client_data", b64u(inner["clientDataJSON"]))
        if case["ceremony"] == "registration":
            if inner.get("attestationObject"):
                obj = b64u(inner["attestationObject"])
                seed("attestation_object", obj)
                auth_data = auth_data_of(obj)
                if auth_data:
                    seed("authenticator_data", auth_data)
                    key = credential_key_of(auth_data)
                    if key:
                        seed("cose_key", key)
            seed("registration_json", json.dumps({**response, **hints}, separators=(",", ":")))
        else:
            if inner.get("authenticatorData"):
                seed("authenticator_data", b64u(inner["authenticatorData"]))
            if case.get("credential_public_key"):
                hints["credential_public_key"] = case["credential_public_key"]
                seed("cose_key", b64u(case["credential_public_key"]))
            hints["prior_sign_count"] = case.get("prior_sign_count", 0)
            seed("authentication_json", json.dumps({**response, **hints}, separators=(",", ":")))
        expected_key = case.get("expect", {}).get("credential_public_key")
        if expected_key:
            seed("cose_key", b64u(expected_key))
    except (ValueError, IndexError, KeyError) as error:
        print(f"seed.sh: skipped part of {path.name}: {error}", file=sys.stderr)

print("seed.sh: new seeds: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
PY
