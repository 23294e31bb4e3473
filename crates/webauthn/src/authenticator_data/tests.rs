use proptest::prelude::*;

use super::*;

/// A P-256 COSE key (kty EC2, alg ES256, crv P-256, x, y) as a CTAP2 authenticator encodes it.
fn cose_key() -> Vec<u8> {
    let mut key = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
    key.extend_from_slice(&[0x11; 32]);
    key.extend_from_slice(&[0x22, 0x58, 0x20]);
    key.extend_from_slice(&[0x33; 32]);
    key
}

fn header(flags: u8, count: u32) -> Vec<u8> {
    let mut out = vec![0xaa; 32];
    out.push(flags);
    out.extend_from_slice(&count.to_be_bytes());
    out
}

#[test]
fn parses_header_only() {
    let bytes = header(0x05, 7);
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert!(data.flags.user_present() && data.flags.user_verified());
    assert_eq!(data.sign_count, 7);
    assert!(data.attested_credential_data.is_none());
    assert_eq!(data.to_vec(), bytes);
}

#[test]
fn parses_attested_data_and_extensions() {
    let mut bytes = header(0xc1, 0);
    bytes.extend_from_slice(&[0x01; 16]);
    bytes.extend_from_slice(&[0x00, 0x03, 9, 8, 7]);
    bytes.extend_from_slice(&cose_key());
    // {"credProtect": 2}
    bytes.extend_from_slice(&[0xa1, 0x6b]);
    bytes.extend_from_slice(b"credProtect");
    bytes.push(0x02);
    let data = AuthenticatorData::parse(&bytes).unwrap();
    let acd = data.attested_credential_data.as_ref().unwrap();
    assert_eq!(acd.credential_id, &[9, 8, 7]);
    assert_eq!(acd.credential_public_key, cose_key().as_slice());
    assert_eq!(
        acd.aaguid.to_string(),
        "01010101-0101-0101-0101-010101010101"
    );
    assert_eq!(data.extensions.unwrap().len(), 14);
    assert_eq!(data.to_vec(), bytes);
}

#[test]
fn structural_defects() {
    use AuthenticatorDataError::*;
    assert_eq!(AuthenticatorData::parse(&[0; 36]), Err(Truncated));
    assert_eq!(AuthenticatorData::parse(&[]), Err(Truncated));
    // AT clear but attested data follows: leftover bytes.
    let mut at_clear = header(0x01, 0);
    at_clear.extend_from_slice(&[0; 18]);
    assert_eq!(AuthenticatorData::parse(&at_clear), Err(TrailingBytes(18)));
    // AT set, nothing follows.
    assert_eq!(AuthenticatorData::parse(&header(0x41, 0)), Err(Truncated));
    // ED set, no extensions.
    assert_eq!(
        AuthenticatorData::parse(&header(0x81, 0)),
        Err(ExtensionData)
    );
    // ED set, extensions are not a map.
    let mut not_map = header(0x81, 0);
    not_map.push(0x01);
    assert_eq!(AuthenticatorData::parse(&not_map), Err(ExtensionData));
    // Credential ID too long.
    let mut long = header(0x41, 0);
    long.extend_from_slice(&[0; 16]);
    long.extend_from_slice(&[0x04, 0x00]);
    long.extend_from_slice(&[0; 1024]);
    assert_eq!(AuthenticatorData::parse(&long), Err(CredentialIdTooLong));
    // Credential ID length beyond the data.
    let mut short = header(0x41, 0);
    short.extend_from_slice(&[0; 16]);
    short.extend_from_slice(&[0x00, 0x10, 1, 2]);
    assert_eq!(AuthenticatorData::parse(&short), Err(Truncated));
    // Bytes after the public key without ED.
    let mut trailing = header(0x41, 0);
    trailing.extend_from_slice(&[0; 16]);
    trailing.extend_from_slice(&[0x00, 0x01, 5]);
    trailing.extend_from_slice(&cose_key());
    trailing.push(0);
    assert_eq!(AuthenticatorData::parse(&trailing), Err(TrailingBytes(1)));
}

#[test]
fn common_checks() {
    use AuthenticatorDataError::*;
    let bytes = header(0x00, 0);
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert_eq!(
        data.verify_common(&[0xaa; 32], true, false),
        Err(UserPresenceRequired)
    );
    assert_eq!(data.verify_common(&[0xaa; 32], false, false), Ok(()));
    assert_eq!(
        data.verify_common(&[0xbb; 32], false, false),
        Err(RpIdMismatch)
    );
    let bytes = header(0x01, 0);
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert_eq!(
        data.verify_common(&[0xaa; 32], true, true),
        Err(UserVerificationRequired)
    );
    let bytes = header(0x11, 0);
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert_eq!(
        data.verify_common(&[0xaa; 32], true, false),
        Err(BackupStateWithoutEligibility)
    );
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = AuthenticatorData::parse(&bytes);
    }

    #[test]
    fn never_panics_with_attested_flag(mut bytes in proptest::collection::vec(any::<u8>(), 37..400)) {
        bytes[32] |= 0x40;
        let _ = AuthenticatorData::parse(&bytes);
    }

    #[test]
    fn round_trips(
        hash in any::<[u8; 32]>(),
        flags in any::<u8>(),
        count in any::<u32>(),
        aaguid in any::<[u8; 16]>(),
        credential_id in proptest::collection::vec(any::<u8>(), 1..=1023),
        extension_value in any::<u32>(),
    ) {
        let key = cose_key();
        let ext = {
            let mut out = Vec::new();
            let value = Value::Map(vec![(Value::Text("x".into()), Value::Integer(extension_value.into()))]);
            ciborium::ser::into_writer(&value, &mut out).unwrap();
            out
        };
        let data = AuthenticatorData {
            rp_id_hash: &hash,
            flags: AuthenticatorFlags(flags),
            sign_count: count,
            attested_credential_data: AuthenticatorFlags(flags).attested_data().then(|| {
                AttestedCredentialData {
                    aaguid: Aaguid(aaguid),
                    credential_id: &credential_id,
                    credential_public_key: &key,
                }
            }),
            extensions: AuthenticatorFlags(flags).extension_data().then_some(ext.as_slice()),
        };
        let bytes = data.to_vec();
        prop_assert_eq!(AuthenticatorData::parse(&bytes).unwrap(), data);
    }
}
