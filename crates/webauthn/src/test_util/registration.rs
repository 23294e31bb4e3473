//! The registration builder: attested credential data, attestation statements and the
//! `RegistrationResponseJSON`.

use std::fmt;

use ciborium::value::Value;

use super::{
    encode_cbor, AttestationCertificate, AttestedCredential, Common, Credential, CredentialKey,
};
use crate::authenticator_data::{Aaguid, AuthenticatorFlags};
use crate::json::{base64url_encode, RegistrationResponseJson};
use crate::relying_party::sha256;

/// A closure that edits a CBOR map in place.
type MapEdit<'c> = Box<dyn FnOnce(&mut Vec<(Value, Value)>) + 'c>;

/// The attestation statement to produce.
enum Attestation<'c> {
    None,
    PackedSelf,
    PackedX5c {
        leaf: &'c AttestationCertificate,
        chain: Vec<Vec<u8>>,
    },
    FidoU2f(&'c AttestationCertificate),
}

/// Builds a registration response; see [`Credential::register`].
pub struct RegistrationBuilder<'c> {
    common: Common<'c>,
    auth_attested: Option<AttestedCredential>,
    attestation: Attestation<'c>,
    fmt: Option<String>,
    attestation_signer: Option<&'c CredentialKey>,
    edit_att_stmt: Option<MapEdit<'c>>,
    edit_attestation_object: Option<MapEdit<'c>>,
    attestation_object: Option<Vec<u8>>,
    transports: Vec<String>,
    convenience_copies: bool,
}

impl fmt::Debug for RegistrationBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationBuilder")
            .field("credential_id", &self.common.credential.id)
            .finish_non_exhaustive()
    }
}

impl<'c> RegistrationBuilder<'c> {
    common_knobs!();

    /// A `none` registration of the common parts' credential, as it is.
    pub(super) fn new(common: Common<'c>) -> Self {
        let credential = common.credential;
        Self {
            common,
            auth_attested: Some(AttestedCredential {
                aaguid: credential.aaguid,
                credential_id: credential.id.clone(),
                credential_public_key: credential.cose_key(),
            }),
            attestation: Attestation::None,
            fmt: None,
            attestation_signer: None,
            edit_att_stmt: None,
            edit_attestation_object: None,
            attestation_object: None,
            transports: vec!["internal".into()],
            convenience_copies: true,
        }
        .set_flag(AuthenticatorFlags::ATTESTED_DATA, true)
    }

    fn attested(&mut self) -> &mut AttestedCredential {
        let credential = self.common.credential;
        self.auth_attested
            .get_or_insert_with(|| AttestedCredential {
                aaguid: credential.aaguid,
                credential_id: credential.id.clone(),
                credential_public_key: credential.cose_key(),
            })
    }

    /// Sets the AAGUID in the attested credential data.
    pub fn aaguid(mut self, aaguid: Aaguid) -> Self {
        self.attested().aaguid = aaguid;
        self
    }

    /// Sets the credential ID in the attested credential data (and `rawId`, unless set).
    pub fn credential_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.attested().credential_id = id.into();
        self
    }

    /// Sets the COSE_Key bytes in the attested credential data.
    pub fn credential_public_key(mut self, cose_key: impl Into<Vec<u8>>) -> Self {
        self.attested().credential_public_key = cose_key.into();
        self
    }

    /// Leaves the attested credential data out (the AT flag is not changed).
    pub fn omit_attested_data(mut self) -> Self {
        self.auth_attested = None;
        self
    }

    /// Sets or clears AT (the attested credential data is not changed).
    pub fn attested_data_flag(self, on: bool) -> Self {
        self.set_flag(AuthenticatorFlags::ATTESTED_DATA, on)
    }

    /// `fmt: "none"` with an empty statement (the default).
    pub fn attestation_none(mut self) -> Self {
        self.attestation = Attestation::None;
        self
    }

    /// `packed` self attestation: `alg` and `sig` made with the credential key.
    pub fn packed_self(mut self) -> Self {
        self.attestation = Attestation::PackedSelf;
        self
    }

    /// `packed` full attestation with `x5c = [leaf, chain...]`, signed by the leaf's key.
    pub fn packed_x5c(mut self, leaf: &'c AttestationCertificate, chain: Vec<Vec<u8>>) -> Self {
        self.attestation = Attestation::PackedX5c { leaf, chain };
        self
    }

    /// `fido-u2f` attestation with `x5c = [certificate]`; also sets the zero AAGUID U2F devices
    /// report (a later [`Self::aaguid`] overrides it).
    pub fn fido_u2f(mut self, certificate: &'c AttestationCertificate) -> Self {
        self.attestation = Attestation::FidoU2f(certificate);
        self.aaguid(Aaguid::default())
    }

    /// Writes this `fmt` instead of the statement's own.
    pub fn fmt(mut self, fmt: &str) -> Self {
        self.fmt = Some(fmt.to_owned());
        self
    }

    /// Signs the statement with this key instead of the one the format names (the credential key
    /// for self attestation, the leaf's key for x5c and fido-u2f). `alg` is not changed.
    pub fn attestation_signer(mut self, key: &'c CredentialKey) -> Self {
        self.attestation_signer = Some(key);
        self
    }

    /// Edits the signed `attStmt` map (add, drop or change members) before it is encoded.
    pub fn edit_att_stmt(mut self, edit: impl FnOnce(&mut Vec<(Value, Value)>) + 'c) -> Self {
        self.edit_att_stmt = Some(Box::new(edit));
        self
    }

    /// Edits the attestation object map (`fmt`, `attStmt`, `authData`) before it is encoded.
    pub fn edit_attestation_object(
        mut self,
        edit: impl FnOnce(&mut Vec<(Value, Value)>) + 'c,
    ) -> Self {
        self.edit_attestation_object = Some(Box::new(edit));
        self
    }

    /// Uses these exact bytes as the attestation object.
    pub fn attestation_object(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.attestation_object = Some(bytes.into());
        self
    }

    /// Sets `response.transports` (`["internal"]` by default).
    pub fn transports(mut self, transports: Vec<String>) -> Self {
        self.transports = transports;
        self
    }

    /// Whether to include the `toJSON()` convenience copies `authenticatorData`, `publicKey` and
    /// `publicKeyAlgorithm` (default true).
    pub fn convenience_copies(mut self, on: bool) -> Self {
        self.convenience_copies = on;
        self
    }

    fn statement(&self, auth_data: &[u8], client_data_hash: &[u8; 32]) -> (String, Value) {
        let credential = self.common.credential;
        let mut signed = auth_data.to_vec();
        signed.extend_from_slice(client_data_hash);
        let sign =
            |default: &dyn Fn(&[u8]) -> Vec<u8>, message: &[u8]| match self.attestation_signer {
                Some(key) => key.sign(message),
                None => default(message),
            };
        let text = |t: &str| Value::Text(t.to_owned());
        match &self.attestation {
            Attestation::None => ("none".into(), Value::Map(Vec::new())),
            Attestation::PackedSelf => {
                let sig = sign(&|m| credential.key.sign(m), &signed);
                let alg = Value::from(credential.key.algorithm().to_i64());
                let stmt = vec![(text("alg"), alg), (text("sig"), Value::Bytes(sig))];
                ("packed".into(), Value::Map(stmt))
            }
            Attestation::PackedX5c { leaf, chain } => {
                let sig = sign(&|m| leaf.sign(m), &signed);
                let x5c = std::iter::once(leaf.der().to_vec())
                    .chain(chain.iter().cloned())
                    .map(Value::Bytes)
                    .collect();
                let stmt = vec![
                    (text("alg"), Value::from(leaf.algorithm().to_i64())),
                    (text("sig"), Value::Bytes(sig)),
                    (text("x5c"), Value::Array(x5c)),
                ];
                ("packed".into(), Value::Map(stmt))
            }
            Attestation::FidoU2f(certificate) => {
                // verificationData = 0x00 || rpIdHash || clientDataHash || credentialId || point
                let mut data = vec![0x00];
                data.extend_from_slice(&self.common.rp_id_hash);
                data.extend_from_slice(client_data_hash);
                if let Some(attested) = &self.auth_attested {
                    data.extend_from_slice(&attested.credential_id);
                    data.extend_from_slice(&cose_ec_point(&attested.credential_public_key));
                }
                let sig = sign(&|m| certificate.sign(m), &data);
                let stmt = vec![
                    (text("sig"), Value::Bytes(sig)),
                    (
                        text("x5c"),
                        Value::Array(vec![Value::Bytes(certificate.der().to_vec())]),
                    ),
                ];
                ("fido-u2f".into(), Value::Map(stmt))
            }
        }
    }

    /// Signs and assembles the response.
    pub fn build(self) -> RegistrationResponse {
        let client_data_json = self.common.client_data_json();
        let client_data_hash = sha256(&client_data_json);
        let auth_data = self.common.authenticator_data(self.auth_attested.as_ref());
        let (fmt, mut att_stmt) = self.statement(&auth_data, &client_data_hash);
        if let (Some(edit), Value::Map(entries)) = (self.edit_att_stmt, &mut att_stmt) {
            edit(entries);
        }
        let attestation_object = match self.attestation_object {
            Some(raw) => raw,
            None => {
                let mut entries = vec![
                    (
                        Value::Text("fmt".into()),
                        Value::Text(self.fmt.unwrap_or(fmt)),
                    ),
                    (Value::Text("attStmt".into()), att_stmt),
                    (
                        Value::Text("authData".into()),
                        Value::Bytes(auth_data.clone()),
                    ),
                ];
                if let Some(edit) = self.edit_attestation_object {
                    edit(&mut entries);
                }
                encode_cbor(&Value::Map(entries))
            }
        };
        let credential = self.common.credential;
        let default_id = self
            .auth_attested
            .as_ref()
            .map_or(credential.id.as_slice(), |a| a.credential_id.as_slice());
        let (id, raw_id) = self.common.identity(default_id);
        let copies = self
            .convenience_copies
            .then(|| convenience_copies(credential, self.auth_attested.as_ref(), &auth_data));
        RegistrationResponse {
            id,
            raw_id,
            credential_type: self.common.credential_type,
            client_data_json,
            attestation_object,
            transports: self.transports,
            convenience_copies: copies,
        }
    }
}

/// What a browser's `toJSON()` adds: the authenticator data, and the attested key's algorithm and
/// SubjectPublicKeyInfo. A key the builder did not generate has no SPKI (browsers leave it out for
/// keys they cannot express).
fn convenience_copies(
    credential: &Credential,
    attested: Option<&AttestedCredential>,
    auth_data: &[u8],
) -> ConvenienceCopies {
    let own_key = credential.cose_key();
    let attested_key = attested.map_or(own_key.as_slice(), |a| &a.credential_public_key);
    let (public_key, public_key_algorithm) = if attested_key == own_key {
        (
            Some(credential.key.spki()),
            Some(credential.key.algorithm().to_i64()),
        )
    } else {
        let alg = match ciborium::de::from_reader::<Value, _>(attested_key) {
            Ok(Value::Map(entries)) => entries
                .iter()
                .find(|(k, _)| k.as_integer() == Some(3.into()))
                .and_then(|(_, v)| v.as_integer())
                .and_then(|i| i64::try_from(i).ok()),
            _ => None,
        };
        (None, alg)
    };
    ConvenienceCopies {
        authenticator_data: auth_data.to_vec(),
        public_key,
        public_key_algorithm,
    }
}

/// The uncompressed point of an EC2 COSE key (empty if it is not one).
fn cose_ec_point(cose_key: &[u8]) -> Vec<u8> {
    let Ok(Value::Map(entries)) = ciborium::de::from_reader::<Value, _>(cose_key) else {
        return Vec::new();
    };
    let coordinate = |label: i64| {
        entries
            .iter()
            .find(|(k, _)| k.as_integer() == Some(label.into()))
            .and_then(|(_, v)| v.as_bytes())
            .cloned()
            .unwrap_or_default()
    };
    let mut point = vec![0x04];
    point.extend(coordinate(-2));
    point.extend(coordinate(-3));
    point
}

/// The unsigned copies `toJSON()` adds to a registration response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvenienceCopies {
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.publicKey` (SubjectPublicKeyInfo DER), when the client could express the key.
    pub public_key: Option<Vec<u8>>,
    /// `response.publicKeyAlgorithm`, when the key has an integer `alg`.
    pub public_key_algorithm: Option<i64>,
}

/// A built registration response. Change the fields to mutate it after signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationResponse {
    /// `id`.
    pub id: String,
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `type`.
    pub credential_type: String,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.attestationObject`.
    pub attestation_object: Vec<u8>,
    /// `response.transports`.
    pub transports: Vec<String>,
    /// The convenience copies, when included.
    pub convenience_copies: Option<ConvenienceCopies>,
}

impl RegistrationResponse {
    /// The `RegistrationResponseJSON` form, as `PublicKeyCredential.toJSON()` gives it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut response = serde_json::json!({
            "clientDataJSON": base64url_encode(&self.client_data_json),
            "attestationObject": base64url_encode(&self.attestation_object),
            "transports": self.transports,
        });
        if let Some(copies) = &self.convenience_copies {
            response["authenticatorData"] = base64url_encode(&copies.authenticator_data).into();
            if let Some(spki) = &copies.public_key {
                response["publicKey"] = base64url_encode(spki).into();
            }
            if let Some(alg) = copies.public_key_algorithm {
                response["publicKeyAlgorithm"] = alg.into();
            }
        }
        serde_json::json!({
            "id": self.id,
            "rawId": base64url_encode(&self.raw_id),
            "type": self.credential_type,
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }

    /// The typed form the verifier takes.
    ///
    /// # Panics
    /// If a mutation made the JSON unreadable; use [`Self::to_json`] and
    /// [`RegistrationResponseJson::from_json`] for those.
    pub fn to_response(&self) -> RegistrationResponseJson {
        serde_json::from_value(self.to_json()).expect("a structurally valid registration response")
    }
}
