//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! The targets that drive a whole ceremony need a relying party, a challenge and (for
//! authentication) a stored credential. A fixed expectation would stop almost every input at the
//! first check (`challenge_mismatch`), so these helpers build a *self-consistent* expectation from
//! the input itself: the challenge and origin the client data claims, an RP ID whose hash matches
//! the authenticator data, and optional hints the seed script adds to the response JSON (unknown
//! members, which `from_json` ignores). The fuzzer then reaches the attestation statement, the
//! certificate chain and the signature checks, which is where the parsers of hostile input live.

use std::sync::OnceLock;

use ciborium::value::Value;
use passkeyd_webauthn::client_data::CollectedClientData;
use passkeyd_webauthn::json::base64url_decode;
use passkeyd_webauthn::{
    AttestationPolicy, AuthenticatorData, RelyingParty, TrustAnchors, UnixTime,
};

/// The verification time when the input does not say: 2026-11-23T00:00:00Z, as in the vector
/// tests.
pub const NOW: UnixTime = UnixTime(1_795_392_000);

/// The challenge of the fixed client data used by the `attestation_object` target.
pub const CHALLENGE: &[u8] = b"passkeyd-fuzz-challenge-0123456789";

/// Every RP ID that appears in `crates/webauthn/tests/vectors`. The RP ID whose SHA-256 equals an
/// input's `rpIdHash` is used, so seeds taken from the vectors get past the `rp_id_mismatch` check.
pub const RP_IDS: &[&str] = &[
    "example.org",
    "localhost",
    "dev.dontneeda.pw",
    "dev2.dontneeda.pw",
    "webauthn.io",
    "webauthn.firstyear.id.au",
    "webauthntest.azurewebsites.net",
    "duo.test",
    "authress.io",
    "simplewebauthn.dev",
    "6cc3c9e7967a.ngrok.io",
    "gramthanos.github.io",
    "pwl.ngrok.io",
    "netpassport.io",
    "try-webauthn.appspot.com",
    "portal.fxon.com",
    "127.0.0.1",
    "webauthn.org",
];

/// The trust anchors of the vector corpus, parsed once.
pub fn vector_roots() -> &'static TrustAnchors {
    static ROOTS: OnceLock<TrustAnchors> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let pems = [
            include_str!("../../crates/webauthn/tests/vectors/roots/apple_webauthn_root_ca.pem"),
            include_str!("../../crates/webauthn/tests/vectors/roots/globalsign_root_ca.pem"),
            include_str!(
                "../../crates/webauthn/tests/vectors/roots/google_hardware_attestation_root_1.pem"
            ),
            include_str!(
                "../../crates/webauthn/tests/vectors/roots/microsoft_tpm_root_ca_2014.pem"
            ),
            include_str!(
                "../../crates/webauthn/tests/vectors/roots/w3c_webauthn_test_vectors_attestation_ca.pem"
            ),
            include_str!(
                "../../crates/webauthn/tests/vectors/roots/yubico_u2f_root_ca_serial_457200631.pem"
            ),
        ];
        let mut anchors = TrustAnchors::new();
        for pem in pems {
            // A root the verifier cannot load is simply not an anchor for the fuzz run.
            let _ = anchors.add_pem(pem);
        }
        anchors
    })
}

/// Attestation policies to run each registration input under: the default (unanchored chains,
/// validity checked), and a strict one that requires a chain to the corpus roots but ignores
/// validity periods (most real attestation certificates in the corpus have expired).
pub fn policies() -> [AttestationPolicy; 2] {
    let strict = AttestationPolicy {
        trust_anchors: vector_roots().clone(),
        require_trusted_chain: true,
        check_certificate_validity: false,
        ..AttestationPolicy::default()
    };
    [AttestationPolicy::default(), strict]
}

/// The RP ID (from [`RP_IDS`]) whose hash starts `auth_data`, or `fallback`.
pub fn rp_id_for<'a>(auth_data: &[u8], fallback: &'a str) -> &'a str {
    let Some(hash) = auth_data.get(..32) else {
        return fallback;
    };
    RP_IDS
        .iter()
        .copied()
        .find(|id| RelyingParty::new(*id, [""; 0]).id_hash().as_slice() == hash)
        .unwrap_or(fallback)
}

/// The authData byte string of a CBOR attestation object, if it has one.
pub fn attestation_auth_data(attestation_object: &[u8]) -> Option<Vec<u8>> {
    let value: Value = ciborium::de::from_reader(attestation_object).ok()?;
    let Value::Map(entries) = value else {
        return None;
    };
    entries.into_iter().find_map(|(k, v)| match (k, v) {
        (Value::Text(k), Value::Bytes(b)) if k == "authData" => Some(b),
        _ => None,
    })
}

/// The credential ID attested in `auth_data`, if it parses.
pub fn attested_credential_id(auth_data: &[u8]) -> Option<Vec<u8>> {
    let parsed = AuthenticatorData::parse(auth_data).ok()?;
    parsed
        .attested_credential_data
        .map(|acd| acd.credential_id.to_vec())
}

/// A relying party and challenge that agree with what `client_data_json` claims (challenge,
/// origin, topOrigin), with RP ID `rp_id`. Inputs whose client data does not parse get a fixed
/// relying party; they fail at the client data checks anyway.
pub fn expectation_from_client_data(
    client_data_json: &[u8],
    rp_id: &str,
) -> (RelyingParty, Vec<u8>) {
    let Ok(client_data) = CollectedClientData::parse(client_data_json) else {
        return (
            RelyingParty::new(rp_id, [format!("https://{rp_id}")]),
            CHALLENGE.to_vec(),
        );
    };
    let challenge = base64url_decode(&client_data.challenge).unwrap_or_default();
    let mut rp = RelyingParty::new(rp_id, [client_data.origin.as_ref()]);
    if client_data.cross_origin || client_data.top_origin.is_some() {
        rp = rp.allow_cross_origin(client_data.top_origin.as_deref());
    }
    (rp, challenge)
}

/// Hints the seed script adds to a response JSON as extra members (ignored by `from_json`).
#[derive(Debug, Default)]
pub struct Hints {
    /// `rp_id`: the relying party ID of the case the seed came from.
    pub rp_id: Option<String>,
    /// `now`: the verification time, Unix seconds.
    pub now: Option<i64>,
    /// `credential_public_key`: the stored COSE key (authentication), base64url.
    pub credential_public_key: Option<Vec<u8>>,
    /// `prior_sign_count`: the stored counter (authentication).
    pub prior_sign_count: Option<u32>,
}

impl Hints {
    /// Reads the hints from a response JSON; missing or mistyped hints are `None`.
    pub fn read(json: &[u8]) -> Self {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(json) else {
            return Self::default();
        };
        Self {
            rp_id: map.get("rp_id").and_then(|v| v.as_str()).map(str::to_owned),
            now: map.get("now").and_then(serde_json::Value::as_i64),
            credential_public_key: map
                .get("credential_public_key")
                .and_then(|v| v.as_str())
                .and_then(|s| base64url_decode(s).ok()),
            prior_sign_count: map
                .get("prior_sign_count")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
        }
    }
}
