//! [Registering a new credential](https://www.w3.org/TR/webauthn-3/#sctn-registering-a-new-credential)
//! (WebAuthn L3 §7.1).

use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::attestation::{
    self, AttestationObject, AttestationPolicy, StatementInput, VerifiedAttestation,
};
use crate::authenticator_data::{Aaguid, AuthenticatorData, AuthenticatorFlags};
use crate::client_data::{ClientDataType, CollectedClientData};
use crate::cose_key::{CoseAlgorithm, CredentialPublicKey};
use crate::crypto::KeyMaterial;
use crate::error::{
    AuthenticatorDataError, CeremonyError, PublicKeyError, ResponseError, VerifyError,
};
use crate::json::{RegistrationResponseJson, UserVerificationRequirement};
use crate::relying_party::{sha256, RelyingParty};
use crate::trust::UnixTime;

/// What the relying party expects of a registration: everything it decided when it issued the
/// creation options, passed back in when the response arrives.
#[derive(Debug, Clone)]
pub struct ExpectedRegistration<'a> {
    /// The relying party (RP ID and origins).
    pub relying_party: &'a RelyingParty,
    /// The challenge bytes issued for this ceremony.
    pub challenge: &'a [u8],
    /// The user verification requirement of the options. Only `Required` is enforced.
    pub user_verification: UserVerificationRequirement,
    /// False only for a conditional create (L3 "conditional mediation" registration), where the
    /// authenticator may create the credential without a user-presence gesture.
    pub require_user_presence: bool,
    /// The `pubKeyCredParams` offered; the credential's algorithm must be one of them.
    pub algorithms: &'a [CoseAlgorithm],
    /// Credential IDs from `excludeCredentials`.
    pub exclude_credentials: &'a [&'a [u8]],
    /// Which attestation is acceptable.
    pub attestation: &'a AttestationPolicy,
}

impl<'a> ExpectedRegistration<'a> {
    /// Strict defaults: user presence required, UV preferred, the default algorithms, no
    /// exclusions.
    pub fn new(
        relying_party: &'a RelyingParty,
        challenge: &'a [u8],
        attestation: &'a AttestationPolicy,
    ) -> Self {
        Self {
            relying_party,
            challenge,
            user_verification: UserVerificationRequirement::Preferred,
            require_user_presence: true,
            algorithms: &CoseAlgorithm::DEFAULT,
            exclude_credentials: &[],
            attestation,
        }
    }
}

/// A verified registration: everything to store in the credential record.
#[derive(Debug, Clone)]
pub struct VerifiedRegistration {
    /// The credential ID.
    pub credential_id: Vec<u8>,
    /// The credential public key, the exact COSE_Key bytes (store these).
    pub public_key: Vec<u8>,
    /// The key's algorithm.
    pub algorithm: CoseAlgorithm,
    /// The initial signature counter.
    pub sign_count: u32,
    /// The authenticator model. Only attested (non-self) attestation vouches for it.
    pub aaguid: Aaguid,
    /// The authenticator data flags (UP, UV, BE, BS).
    pub flags: AuthenticatorFlags,
    /// The verified attestation.
    pub attestation: VerifiedAttestation,
    /// Transports the client reported (unsigned hints for `allowCredentials`).
    pub transports: Vec<String>,
    /// The authenticator extension outputs, raw CBOR, if any.
    pub authenticator_extensions: Option<Vec<u8>>,
}

impl VerifiedRegistration {
    /// Whether the user was verified during registration.
    pub fn user_verified(&self) -> bool {
        self.flags.user_verified()
    }
    /// Whether the credential can be backed up (a synced passkey).
    pub fn backup_eligible(&self) -> bool {
        self.flags.backup_eligible()
    }
    /// Whether the credential is backed up now.
    pub fn backup_state(&self) -> bool {
        self.flags.backup_state()
    }
}

/// Verifies a registration response, every step of L3 §7.1 in order.
///
/// `now` is the time at which certificates must be valid. Nothing is stored: the caller persists
/// the returned record only if it also finds the credential ID unused (§7.1 step 25).
pub fn verify_registration(
    response: &RegistrationResponseJson,
    expected: &ExpectedRegistration<'_>,
    now: UnixTime,
) -> Result<VerifiedRegistration, VerifyError> {
    response.check_structure()?;
    let rp = expected.relying_party;

    // Steps 5-10: client data.
    let client_data_json = &response.response.client_data_json.0;
    let client_data = CollectedClientData::parse(client_data_json)?;
    client_data.verify(ClientDataType::Create, expected.challenge, rp)?;

    // Step 11: hash of the exact client data bytes.
    let client_data_hash = sha256(client_data_json);

    // Step 12: decode the attestation object.
    let object = AttestationObject::parse(&response.response.attestation_object.0)?;
    let auth_data = AuthenticatorData::parse(&object.auth_data)?;
    let acd = auth_data
        .attested_credential_data
        .as_ref()
        .ok_or(AuthenticatorDataError::AttestedDataFlag)?;

    // Steps 13-16: rpIdHash, UP, UV, BE/BS.
    auth_data.verify_common(
        rp.id_hash(),
        expected.require_user_presence,
        expected.user_verification == UserVerificationRequirement::Required,
    )?;

    // Step 18: the credential key is valid and its algorithm was offered.
    let credential_key = CredentialPublicKey::from_cose(acd.credential_public_key)?;
    if !expected.algorithms.contains(&credential_key.algorithm()) {
        return Err(PublicKeyError::NotAllowed(credential_key.algorithm()).into());
    }

    // The unsigned convenience copies must agree with the attestation object (§5.2.1.1).
    check_convenience_copies(response, &object.auth_data, &credential_key)?;

    // Steps 19-23: the attestation statement and its trust.
    let attestation = attestation::verify(
        &object.fmt,
        &StatementInput {
            att_stmt: object.att_stmt.as_map().map_or(&[], Vec::as_slice),
            auth_data_bytes: &object.auth_data,
            auth_data: &auth_data,
            client_data_hash: &client_data_hash,
            credential_key: &credential_key,
            policy: expected.attestation,
            now,
            att_stmt_value: &object.att_stmt,
        },
    )?;

    // Step 24 (length checked while parsing) and the identity of the credential: id and rawId
    // are the credential ID the authenticator attested.
    if response.raw_id.0 != acd.credential_id {
        return Err(CeremonyError::CredentialIdMismatch.into());
    }
    if expected.exclude_credentials.contains(&acd.credential_id) {
        return Err(CeremonyError::CredentialExcluded.into());
    }

    Ok(VerifiedRegistration {
        credential_id: acd.credential_id.to_vec(),
        public_key: acd.credential_public_key.to_vec(),
        algorithm: credential_key.algorithm(),
        sign_count: auth_data.sign_count,
        aaguid: acd.aaguid,
        flags: auth_data.flags,
        attestation,
        transports: response.response.transports.clone(),
        authenticator_extensions: auth_data.extensions.map(<[u8]>::to_vec),
    })
}

fn check_convenience_copies(
    response: &RegistrationResponseJson,
    auth_data: &[u8],
    key: &CredentialPublicKey,
) -> Result<(), VerifyError> {
    let copies = &response.response;
    let inconsistent = |field| VerifyError::Response(ResponseError::Inconsistent(field));
    if copies
        .authenticator_data
        .as_ref()
        .is_some_and(|copy| copy.0 != auth_data)
    {
        return Err(inconsistent("authenticatorData"));
    }
    if copies
        .public_key_algorithm
        .is_some_and(|alg| alg != key.algorithm().to_i64())
    {
        return Err(inconsistent("publicKeyAlgorithm"));
    }
    if let Some(spki) = &copies.public_key {
        // Browsers omit the copy for key types they cannot express; when present and readable
        // it must be the same key.
        let parsed = SubjectPublicKeyInfo::from_der(&spki.0)
            .ok()
            .and_then(|(_, spki)| KeyMaterial::from_spki(&spki).ok());
        if parsed.is_some_and(|material| &material != key.material()) {
            return Err(inconsistent("publicKey"));
        }
    }
    Ok(())
}
