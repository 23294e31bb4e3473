//! The WebAuthn Level 3 JSON forms.
//!
//! Responses are what `PublicKeyCredential.toJSON()` produces
//! ([`RegistrationResponseJSON`](https://www.w3.org/TR/webauthn-3/#dictdef-registrationresponsejson),
//! [`AuthenticationResponseJSON`](https://www.w3.org/TR/webauthn-3/#dictdef-authenticationresponsejson));
//! options are what `PublicKeyCredential.parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` accept. Binary members are base64url without padding on output
//! and accepted with or without padding on input.
//!
//! Only the members a relying party needs are typed. Unknown members are ignored, as the spec asks.
//! The convenience copies in `AuthenticatorAttestationResponseJSON` (`publicKey`,
//! `publicKeyAlgorithm`, `authenticatorData`) are unsigned; verification derives everything from
//! the attestation object and only checks that the copies, when present, agree with it.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ResponseError, VerifyError};

/// Largest response JSON accepted, in bytes. The biggest real payloads (TPM chains, ML-DSA-87
/// keys with their signatures) stay well under a quarter of this.
pub const MAX_RESPONSE_JSON: usize = 128 * 1024;

/// base64url, no padding on output, padding tolerated on input (browsers and libraries differ).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as base64url without padding.
pub fn base64url_encode(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

/// Decodes base64url, with or without padding. Standard-alphabet characters (`+`, `/`) are refused.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    BASE64URL.decode(text)
}

/// Bytes carried in JSON as a base64url string.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Base64UrlBytes(pub Vec<u8>);

impl fmt::Debug for Base64UrlBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b64u:{}", base64url_encode(&self.0))
    }
}

impl From<Vec<u8>> for Base64UrlBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Base64UrlBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Base64UrlBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64url_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64UrlBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct B64Visitor;
        impl Visitor<'_> for B64Visitor {
            type Value = Base64UrlBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64url string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                base64url_decode(v)
                    .map(Base64UrlBytes)
                    .map_err(|_| E::custom("invalid base64url"))
            }
        }
        deserializer.deserialize_str(B64Visitor)
    }
}

/// `RegistrationResponseJSON`: the result of `navigator.credentials.create()` after `toJSON()`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponseJson {
    /// The credential ID, base64url (must equal `rawId`).
    pub id: String,
    /// The credential ID.
    pub raw_id: Base64UrlBytes,
    /// The authenticator's attestation response.
    pub response: AuthenticatorAttestationResponseJson,
    /// `platform` or `cross-platform`, as the client reports it (unsigned, informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs (unsigned).
    #[serde(default)]
    pub client_extension_results: serde_json::Map<String, serde_json::Value>,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAttestationResponseJson {
    /// The exact bytes of the collected client data.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    /// The CBOR attestation object.
    pub attestation_object: Base64UrlBytes,
    /// Transports the client says the authenticator supports (unsigned hints). `null` is read as
    /// empty, as some clients send it.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub transports: Vec<String>,
    /// Convenience copy of the authenticator data (unsigned; must agree with the attestation object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_data: Option<Base64UrlBytes>,
    /// Convenience SubjectPublicKeyInfo of the credential key (unsigned; ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Base64UrlBytes>,
    /// Convenience COSE algorithm of the credential key (unsigned; must agree when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_algorithm: Option<i64>,
}

/// `AuthenticationResponseJSON`: the result of `navigator.credentials.get()` after `toJSON()`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponseJson {
    /// The credential ID, base64url (must equal `rawId`).
    pub id: String,
    /// The credential ID.
    pub raw_id: Base64UrlBytes,
    /// The authenticator's assertion response.
    pub response: AuthenticatorAssertionResponseJson,
    /// `platform` or `cross-platform`, as the client reports it (unsigned, informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs (unsigned).
    #[serde(default)]
    pub client_extension_results: serde_json::Map<String, serde_json::Value>,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAssertionResponseJson {
    /// The exact bytes of the collected client data.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    /// The authenticator data that was signed.
    pub authenticator_data: Base64UrlBytes,
    /// The assertion signature.
    pub signature: Base64UrlBytes,
    /// The user handle, present for discoverable credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<Base64UrlBytes>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

fn parse_limited<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, VerifyError> {
    if json.len() > MAX_RESPONSE_JSON {
        return Err(ResponseError::TooLarge {
            limit: MAX_RESPONSE_JSON,
        }
        .into());
    }
    serde_json::from_slice(json).map_err(|e| {
        ResponseError::Json {
            line: e.line(),
            column: e.column(),
        }
        .into()
    })
}

fn require(bytes: &Base64UrlBytes, field: &'static str) -> Result<(), ResponseError> {
    if bytes.0.is_empty() {
        Err(ResponseError::Missing(field))
    } else {
        Ok(())
    }
}

/// Checks `type` and that `id` is the base64url form of `rawId` (security checklist case 36).
fn check_identity(id: &str, raw_id: &Base64UrlBytes, type_: &str) -> Result<(), VerifyError> {
    if type_ != "public-key" {
        return Err(ResponseError::CredentialType.into());
    }
    require(raw_id, "rawId")?;
    let decoded = base64url_decode(id).map_err(|_| ResponseError::Base64("id"))?;
    if decoded != raw_id.0 {
        return Err(crate::error::CeremonyError::CredentialIdMismatch.into());
    }
    Ok(())
}

impl RegistrationResponseJson {
    /// Parses and structurally checks a registration response (at most [`MAX_RESPONSE_JSON`] bytes).
    pub fn from_json(json: &[u8]) -> Result<Self, VerifyError> {
        let parsed: Self = parse_limited(json)?;
        parsed.check_structure()?;
        Ok(parsed)
    }

    /// The structural checks of [`Self::from_json`], for values deserialized by other means.
    pub fn check_structure(&self) -> Result<(), VerifyError> {
        check_identity(&self.id, &self.raw_id, &self.type_)?;
        require(&self.response.client_data_json, "clientDataJSON")?;
        require(&self.response.attestation_object, "attestationObject")?;
        Ok(())
    }
}

impl AuthenticationResponseJson {
    /// Parses and structurally checks an authentication response (at most [`MAX_RESPONSE_JSON`]
    /// bytes).
    pub fn from_json(json: &[u8]) -> Result<Self, VerifyError> {
        let parsed: Self = parse_limited(json)?;
        parsed.check_structure()?;
        Ok(parsed)
    }

    /// The structural checks of [`Self::from_json`], for values deserialized by other means.
    pub fn check_structure(&self) -> Result<(), VerifyError> {
        check_identity(&self.id, &self.raw_id, &self.type_)?;
        require(&self.response.client_data_json, "clientDataJSON")?;
        require(&self.response.authenticator_data, "authenticatorData")?;
        require(&self.response.signature, "signature")?;
        Ok(())
    }
}

/// [`UserVerificationRequirement`](https://www.w3.org/TR/webauthn-3/#enumdef-userverificationrequirement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerificationRequirement {
    /// The relying party does not want user verification.
    Discouraged,
    /// User verification if the authenticator can; not enforced.
    #[default]
    Preferred,
    /// The UV flag must be set.
    Required,
}

/// [`ResidentKeyRequirement`](https://www.w3.org/TR/webauthn-3/#enum-residentKeyRequirement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentKeyRequirement {
    /// A server-side credential is preferred.
    Discouraged,
    /// A discoverable credential (passkey) if possible.
    #[default]
    Preferred,
    /// A discoverable credential is required.
    Required,
}

/// [`AttestationConveyancePreference`](https://www.w3.org/TR/webauthn-3/#enum-attestation-convey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyancePreference {
    /// The authenticator's attestation statement as generated.
    Direct,
    /// Enterprise attestation (uniquely identifying), by prior arrangement only.
    Enterprise,
    /// The client may replace the attestation with an anonymized one.
    Indirect,
    /// No attestation.
    #[default]
    None,
}

/// [`AuthenticatorAttachment`](https://www.w3.org/TR/webauthn-3/#enum-attachment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    /// A roaming authenticator (security key, phone over hybrid).
    CrossPlatform,
    /// The device's own authenticator.
    Platform,
}

/// [`PublicKeyCredentialHint`](https://www.w3.org/TR/webauthn-3/#enum-hints). Advisory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublicKeyCredentialHint {
    /// The platform authenticator.
    ClientDevice,
    /// A phone or tablet over the hybrid transport.
    Hybrid,
    /// A roaming security key.
    SecurityKey,
}

/// `PublicKeyCredentialRpEntity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingPartyEntity {
    /// The RP ID (a registrable domain suffix of the origin).
    pub id: String,
    /// A human-friendly name.
    pub name: String,
}

/// `PublicKeyCredentialUserEntityJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle: 1 to 64 random bytes, never personal data.
    pub id: Base64UrlBytes,
    /// The account name shown by the authenticator.
    pub name: String,
    /// The display name shown by the authenticator.
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyCredentialParameters {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: PublicKeyType,
    /// A COSE algorithm identifier.
    pub alg: i64,
}

/// The only credential type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PublicKeyType {
    /// `public-key`
    #[default]
    #[serde(rename = "public-key")]
    PublicKey,
}

/// `PublicKeyCredentialDescriptorJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyCredentialDescriptor {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: PublicKeyType,
    /// The credential ID.
    pub id: Base64UrlBytes,
    /// Transports recorded at registration, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl PublicKeyCredentialDescriptor {
    /// A descriptor for a credential ID with optional transports.
    pub fn new(id: Vec<u8>, transports: Vec<String>) -> Self {
        Self {
            type_: PublicKeyType::PublicKey,
            id: Base64UrlBytes(id),
            transports,
        }
    }
}

/// `AuthenticatorSelectionCriteria`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelectionCriteria {
    /// Platform or cross-platform authenticators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Whether a discoverable credential is wanted.
    pub resident_key: ResidentKeyRequirement,
    /// Level 1 compatibility: true exactly when `residentKey` is `required`.
    pub require_resident_key: bool,
    /// The user verification the relying party wants.
    pub user_verification: UserVerificationRequirement,
}

/// `PublicKeyCredentialCreationOptionsJSON`, ready for `parseCreationOptionsFromJSON()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptionsJson {
    /// The relying party.
    pub rp: RelyingPartyEntity,
    /// The user account.
    pub user: UserEntity,
    /// The challenge (server-generated, at least 16 random bytes).
    pub challenge: Base64UrlBytes,
    /// Acceptable credential algorithms, most preferred first.
    pub pub_key_cred_params: Vec<PublicKeyCredentialParameters>,
    /// Ceremony timeout in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Credentials the user already has, so the authenticator does not create a second one.
    #[serde(default)]
    pub exclude_credentials: Vec<PublicKeyCredentialDescriptor>,
    /// Authenticator requirements.
    pub authenticator_selection: AuthenticatorSelectionCriteria,
    /// Hints for the browser's UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<PublicKeyCredentialHint>,
    /// The attestation the relying party wants.
    pub attestation: AttestationConveyancePreference,
    /// Acceptable attestation formats, most preferred first (empty: no preference).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestation_formats: Vec<String>,
    /// Extension inputs.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// `PublicKeyCredentialRequestOptionsJSON`, ready for `parseRequestOptionsFromJSON()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptionsJson {
    /// The challenge (server-generated, at least 16 random bytes).
    pub challenge: Base64UrlBytes,
    /// Ceremony timeout in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The RP ID.
    pub rp_id: String,
    /// The user's credentials (identified flow), or empty (discoverable flow).
    #[serde(default)]
    pub allow_credentials: Vec<PublicKeyCredentialDescriptor>,
    /// The user verification the relying party wants.
    pub user_verification: UserVerificationRequirement,
    /// Hints for the browser's UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<PublicKeyCredentialHint>,
    /// Extension inputs.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// Default ceremony timeout offered to browsers: five minutes, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 300_000;

impl CreationOptionsJson {
    /// Creation options with passkeyd's defaults: every supported algorithm except RS1 (ES256 and
    /// EdDSA first), a discoverable credential preferred, user verification preferred, no
    /// attestation, five minutes.
    pub fn new(rp: RelyingPartyEntity, user: UserEntity, challenge: Vec<u8>) -> Self {
        Self {
            rp,
            user,
            challenge: Base64UrlBytes(challenge),
            pub_key_cred_params: crate::CoseAlgorithm::DEFAULT
                .iter()
                .map(|alg| PublicKeyCredentialParameters {
                    type_: PublicKeyType::PublicKey,
                    alg: alg.to_i64(),
                })
                .collect(),
            timeout: Some(DEFAULT_TIMEOUT_MS),
            exclude_credentials: Vec::new(),
            authenticator_selection: AuthenticatorSelectionCriteria {
                authenticator_attachment: None,
                resident_key: ResidentKeyRequirement::Preferred,
                require_resident_key: false,
                user_verification: UserVerificationRequirement::Preferred,
            },
            hints: Vec::new(),
            attestation: AttestationConveyancePreference::None,
            attestation_formats: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Sets the resident key requirement, keeping `requireResidentKey` consistent with it.
    pub fn with_resident_key(mut self, requirement: ResidentKeyRequirement) -> Self {
        self.authenticator_selection.resident_key = requirement;
        self.authenticator_selection.require_resident_key =
            requirement == ResidentKeyRequirement::Required;
        self
    }

    /// The algorithms offered, as the verifier expects them (unknown identifiers are skipped).
    pub fn algorithms(&self) -> Vec<crate::CoseAlgorithm> {
        self.pub_key_cred_params
            .iter()
            .filter_map(|p| crate::CoseAlgorithm::from_i64(p.alg))
            .collect()
    }
}

impl RequestOptionsJson {
    /// Request options for a discoverable (usernameless) sign-in with user verification
    /// preferred and a five-minute timeout; fill `allow_credentials` for an identified user.
    pub fn new(rp_id: impl Into<String>, challenge: Vec<u8>) -> Self {
        Self {
            challenge: Base64UrlBytes(challenge),
            timeout: Some(DEFAULT_TIMEOUT_MS),
            rp_id: rp_id.into(),
            allow_credentials: Vec::new(),
            user_verification: UserVerificationRequirement::Preferred,
            hints: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_accepts_padding_and_refuses_standard_alphabet() {
        assert_eq!(base64url_decode("AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(base64url_decode("AQI").unwrap(), vec![1, 2]);
        assert_eq!(base64url_decode("AQI=").unwrap(), vec![1, 2]);
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode("+/8").is_err());
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn id_must_equal_raw_id() {
        let json = br#"{"id":"AQID","rawId":"AQIE","type":"public-key","response":
            {"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}"#;
        let err = AuthenticationResponseJson::from_json(json).unwrap_err();
        assert_eq!(err.code(), "credential_id_mismatch");
    }

    #[test]
    fn structural_mutations_are_response_malformed() {
        let cases: &[&[u8]] = &[
            br#"{"rawId":"AQID","type":"public-key","response":{}}"#,
            br#"{"id":"AQID","rawId":"AQID","type":"secret-key","response":
                {"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}"#,
            br#"{"id":"AQID","rawId":"AQID","type":"public-key","response":
                {"clientDataJSON":"","authenticatorData":"AA","signature":"AA"}}"#,
            br#"{"id":"AQID","rawId":"AQID","type":"public-key","response":
                {"clientDataJSON":"e30","authenticatorData":"A A","signature":"AA"}}"#,
            br#"{"id":"AQID","rawId":"AQID","type":"public-key","response":
                {"clientDataJSON":"e30","authenticatorData":"AA"}}"#,
            br#"{"id":7,"rawId":"AQID","type":"public-key","response":
                {"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}"#,
            b"[]",
            b"",
        ];
        for case in cases {
            let err = AuthenticationResponseJson::from_json(case).unwrap_err();
            assert_eq!(
                err.code(),
                "response_malformed",
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn creation_options_use_the_l3_member_names() {
        let options = CreationOptionsJson::new(
            RelyingPartyEntity {
                id: "example.com".into(),
                name: "Example".into(),
            },
            UserEntity {
                id: Base64UrlBytes(vec![1; 32]),
                name: "alice".into(),
                display_name: "Alice".into(),
            },
            vec![7; 32],
        )
        .with_resident_key(ResidentKeyRequirement::Required);
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(json["challenge"], base64url_encode(&[7; 32]));
        assert_eq!(json["user"]["displayName"], "Alice");
        assert_eq!(
            json["pubKeyCredParams"][0],
            serde_json::json!({"type": "public-key", "alg": -7})
        );
        assert_eq!(json["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(json["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(
            json["authenticatorSelection"]["userVerification"],
            "preferred"
        );
        assert_eq!(json["attestation"], "none");
        assert_eq!(json["excludeCredentials"], serde_json::json!([]));
        assert!(!options.algorithms().contains(&crate::CoseAlgorithm::Rs1));
        let back: CreationOptionsJson = serde_json::from_value(json).unwrap();
        assert_eq!(back, options);
    }

    #[test]
    fn request_options_use_the_l3_member_names() {
        let mut options = RequestOptionsJson::new("example.com", vec![9; 16]);
        options
            .allow_credentials
            .push(PublicKeyCredentialDescriptor::new(
                vec![1, 2, 3],
                vec!["usb".into()],
            ));
        options.hints.push(PublicKeyCredentialHint::SecurityKey);
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(json["rpId"], "example.com");
        assert_eq!(
            json["allowCredentials"][0],
            serde_json::json!({"type": "public-key", "id": "AQID", "transports": ["usb"]})
        );
        assert_eq!(json["hints"], serde_json::json!(["security-key"]));
        assert_eq!(json["timeout"], 300_000);
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b' '; MAX_RESPONSE_JSON + 1];
        let err = RegistrationResponseJson::from_json(&big).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Response(ResponseError::TooLarge {
                limit: MAX_RESPONSE_JSON
            })
        );
    }
}
