use std::collections::BTreeSet;

use aws_lc_rs::rand::SystemRandom;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_750_000_000;
const LIFETIME: i64 = 300;
const BOTH: [SigningAlgorithm; 2] = [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256];

fn master() -> MasterKey {
    MasterKey::random(&SystemRandom::new()).unwrap()
}

fn signing_key(tenant: &str, algorithm: SigningAlgorithm, master: &MasterKey) -> SigningKeyRecord {
    generate_signing_key(tenant, algorithm, master, &SystemRandom::new(), NOW).unwrap()
}

fn claims(tenant: &str) -> ResultClaims {
    ResultClaims {
        iss: ISSUER.to_owned(),
        aud: tenant.to_owned(),
        tenant: tenant.to_owned(),
        sub: "user-1".to_owned(),
        cred: Some("Y3JlZA".to_owned()),
        uv: true,
        amr: vec!["webauthn".to_owned(), "hwk".to_owned()],
        auth_time: NOW,
        iat: NOW,
        exp: NOW + LIFETIME,
        jti: "jti-1".to_owned(),
        role: None,
        domain: None,
        purpose: "authentication".to_owned(),
        uh: None,
    }
}

/// A key of tenant `t1` and a token it signed with default claims.
fn signed(algorithm: SigningAlgorithm) -> (SigningKeyRecord, String) {
    let master = master();
    let key = signing_key("t1", algorithm, &master);
    let token = sign(&claims("t1"), &key, "t1", &master).unwrap();
    (key, token)
}

/// A key list of one.
fn one(key: &SigningKeyRecord) -> &[SigningKeyRecord] {
    std::slice::from_ref(key)
}

fn reason(result: Result<ResultClaims, TokenError>) -> InvalidToken {
    match result {
        Err(TokenError::Invalid(reason)) => reason,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn round_trip() {
    for algorithm in BOTH {
        let (key, token) = signed(algorithm);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, algorithm.jwt());
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(key.algorithm, algorithm.as_str());
        assert_eq!(URL_SAFE_NO_PAD.decode(&key.kid).unwrap().len(), 16);
        assert_eq!(
            verify(&token, "t1", &[key], NOW, LIFETIME).unwrap(),
            claims("t1")
        );
    }
}

#[test]
fn optional_claims_are_omitted_when_absent_and_kept_when_present() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::Es256, &master);
    let mut plain = claims("t1");
    plain.cred = None;
    let token = sign(&plain, &key, "t1", &master).unwrap();
    let payload: Value = serde_json::from_slice(&unb64(&parts(&token)[1])).unwrap();
    for absent in ["cred", "role", "domain"] {
        assert!(payload.get(absent).is_none(), "{absent}");
    }
    let mut full = claims("t1");
    full.role = Some("admin".to_owned());
    full.domain = Some("example.com".to_owned());
    let token = sign(&full, &key, "t1", &master).unwrap();
    assert_eq!(verify(&token, "t1", &[key], NOW, LIFETIME).unwrap(), full);
}

#[test]
fn jwks_publishes_only_public_members_and_verifies_on_its_own() {
    let master = master();
    let keys: Vec<_> = BOTH.map(|alg| signing_key("t1", alg, &master)).into();
    let document = jwks(&keys, NOW, LIFETIME);

    let members =
        |jwk: &Value| -> BTreeSet<String> { jwk.as_object().unwrap().keys().cloned().collect() };
    let published = document["keys"].as_array().unwrap();
    assert_eq!(published.len(), 2);
    let ed = &published[0];
    assert_eq!(
        members(ed),
        ["alg", "crv", "kid", "kty", "use", "x"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        (&ed["kty"], &ed["crv"], &ed["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
    let ec = &published[1];
    let ec_members = ["alg", "crv", "kid", "kty", "use", "x", "y"].map(String::from);
    assert_eq!(members(ec), ec_members.into());
    assert_eq!(
        (&ec["kty"], &ec["crv"], &ec["alg"]),
        (&json!("EC"), &json!("P-256"), &json!("ES256"))
    );
    assert!(published.iter().all(|jwk| jwk["use"] == "sig"));

    // An independent verifier: jsonwebtoken's own JWK parsing, not our `verify`.
    let set: JwkSet = serde_json::from_value(document.clone()).unwrap();
    for key in &keys {
        let token = sign(&claims("t1"), key, "t1", &master).unwrap();
        let jwk = set.find(&key.kid).unwrap();
        let decoding_key = DecodingKey::from_jwk(jwk).unwrap();
        let algorithm = SigningAlgorithm::parse(&key.algorithm).unwrap().jwt();
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false; // NOW is a fixed date, not the system clock.
        validation.set_audience(&["t1"]);
        let data =
            jsonwebtoken::decode::<ResultClaims>(&token, &decoding_key, &validation).unwrap();
        assert_eq!(data.claims, claims("t1"));
    }
}

#[test]
fn jwks_never_publishes_private_members_even_if_stored() {
    let master = master();
    let mut key = signing_key("t1", SigningAlgorithm::EdDsa, &master);
    let mut jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
    jwk["d"] = json!("c2VjcmV0");
    jwk["k"] = json!("c2VjcmV0");
    key.public_jwk = jwk.to_string();
    let document = jwks(&[key], NOW, LIFETIME);
    let published = &document["keys"][0];
    assert!(published.get("d").is_none() && published.get("k").is_none());
    assert_eq!(published["kty"], "OKP");
}

#[test]
fn retired_key_is_published_until_its_grace_ends() {
    let master = master();
    let active = signing_key("t1", SigningAlgorithm::Es256, &master);
    let mut retired = signing_key("t1", SigningAlgorithm::Es256, &master);
    retired.retired_at = Some(NOW - 100);
    let keys = [active.clone(), retired.clone()];
    let kids = |now| -> Vec<String> {
        jwks(&keys, now, LIFETIME)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kids(NOW), [active.kid.as_str(), retired.kid.as_str()]);
    assert_eq!(kids(NOW + 259), [active.kid.as_str(), retired.kid.as_str()]);
    // Any token the retired key signed (up to the clock skew after its retirement) expired by
    // `retired_at + LIFETIME + MAX_CLOCK_SKEW`.
    assert_eq!(kids(NOW + 260), [active.kid.as_str()]);
}

#[test]
fn token_of_one_tenant_does_not_verify_for_another() {
    let master = master();
    let key_a = signing_key("tenant-a", SigningAlgorithm::Es256, &master);
    let key_b = signing_key("tenant-b", SigningAlgorithm::Es256, &master);
    let token = sign(&claims("tenant-a"), &key_a, "tenant-a", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "tenant-b", one(&key_b), NOW, LIFETIME)),
        InvalidToken::UnknownKey
    );
    // Even if B's key list somehow held A's key, the audience is A's.
    let both = [key_a.clone(), key_b];
    assert_eq!(
        reason(verify(&token, "tenant-b", &both, NOW, LIFETIME)),
        InvalidToken::WrongAudience
    );

    // The `tenant` claim is checked too, not only `aud`.
    let mut mixed = claims("tenant-a");
    mixed.tenant = "tenant-b".to_owned();
    let token = sign(&mixed, &key_a, "tenant-a", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "tenant-a", &both, NOW, LIFETIME)),
        InvalidToken::WrongAudience
    );

    // A's key is sealed to A: it cannot be used to sign as B.
    let err = sign(&claims("tenant-b"), &key_a, "tenant-b", &master).unwrap_err();
    assert!(matches!(err, TokenError::Key(KeyError::Unseal)), "{err:?}");
}

#[test]
fn tampered_tokens_are_refused() {
    for algorithm in BOTH {
        let (key, token) = signed(algorithm);
        let [header, payload, signature] = <[String; 3]>::try_from(parts(&token)).unwrap();

        let mut altered: Value = serde_json::from_slice(&unb64(&payload)).unwrap();
        altered["sub"] = json!("admin");
        let forged = format!(
            "{header}.{}.{signature}",
            b64(altered.to_string().as_bytes())
        );
        let result = verify(&forged, "t1", one(&key), NOW, LIFETIME);
        assert_eq!(reason(result), InvalidToken::BadSignature);

        let mut bytes = unb64(&signature);
        bytes[10] ^= 1;
        let forged = format!("{header}.{payload}.{}", b64(&bytes));
        let result = verify(&forged, "t1", one(&key), NOW, LIFETIME);
        assert_eq!(reason(result), InvalidToken::BadSignature);

        let truncated = format!("{header}.{payload}");
        assert_eq!(
            reason(verify(&truncated, "t1", &[key], NOW, LIFETIME)),
            InvalidToken::Malformed
        );
    }
}

#[test]
fn alg_none_is_refused() {
    let (key, token) = signed(SigningAlgorithm::Es256);
    let payload = &parts(&token)[1];
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": key.kid});
        for signature in ["", "AA"] {
            let forged = format!(
                "{}.{payload}.{signature}",
                b64(header.to_string().as_bytes())
            );
            let err = verify(&forged, "t1", one(&key), NOW, LIFETIME).unwrap_err();
            assert_eq!(err.code(), "token_invalid", "{alg}: {err:?}");
        }
    }
}

#[test]
fn hmac_keyed_with_the_public_key_is_refused() {
    for algorithm in BOTH {
        let (key, _) = signed(algorithm);
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        let x = unb64(jwk["x"].as_str().unwrap());
        let mut point = vec![0x04];
        point.extend_from_slice(&x);
        if let Some(y) = jwk["y"].as_str() {
            point.extend_from_slice(&unb64(y));
        }
        // Every form of "the public key" a confused verifier might use as the HMAC secret.
        let secrets = [key.public_jwk.as_bytes().to_vec(), x, point];
        for hmac in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            for secret in &secrets {
                let mut header = Header::new(hmac);
                header.kid = Some(key.kid.clone());
                let encoding_key = EncodingKey::from_secret(secret);
                let forged = jsonwebtoken::encode(&header, &claims("t1"), &encoding_key).unwrap();
                let result = verify(&forged, "t1", one(&key), NOW, LIFETIME);
                assert_eq!(reason(result), InvalidToken::AlgorithmMismatch);
            }
        }
    }
}

#[test]
fn alg_of_another_key_type_is_refused() {
    let (ed_key, ed_token) = signed(SigningAlgorithm::EdDsa);
    let (ec_key, _) = signed(SigningAlgorithm::Es256);
    // An EdDSA token relabelled with the ES256 key's kid.
    let [header, payload, signature] = <[String; 3]>::try_from(parts(&ed_token)).unwrap();
    let mut relabelled: Value = serde_json::from_slice(&unb64(&header)).unwrap();
    relabelled["kid"] = json!(ec_key.kid);
    let forged = format!(
        "{}.{payload}.{signature}",
        b64(relabelled.to_string().as_bytes())
    );
    let keys = [ed_key, ec_key];
    assert_eq!(
        reason(verify(&forged, "t1", &keys, NOW, LIFETIME)),
        InvalidToken::AlgorithmMismatch
    );
}

#[test]
fn expiry_has_no_leeway() {
    let (key, token) = signed(SigningAlgorithm::EdDsa);
    let keys = [key];
    assert!(verify(&token, "t1", &keys, NOW + LIFETIME - 1, LIFETIME).is_ok());
    let err = verify(&token, "t1", &keys, NOW + LIFETIME, LIFETIME).unwrap_err();
    assert!(matches!(err, TokenError::Expired), "{err:?}");
    assert_eq!(err.code(), "token_expired");
}

#[test]
fn issued_in_the_future_is_refused_beyond_clock_skew() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::Es256, &master);
    let keys = [key.clone()];
    let mut early = claims("t1");
    early.iat = NOW + MAX_CLOCK_SKEW;
    let token = sign(&early, &key, "t1", &master).unwrap();
    assert!(verify(&token, "t1", &keys, NOW, LIFETIME).is_ok());
    early.iat += 1;
    let token = sign(&early, &key, "t1", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", &keys, NOW, LIFETIME)),
        InvalidToken::IssuedInFuture
    );
}

#[test]
fn wrong_issuer_is_refused() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::Es256, &master);
    let mut foreign = claims("t1");
    foreign.iss = "someone-else".to_owned();
    let token = sign(&foreign, &key, "t1", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", &[key], NOW, LIFETIME)),
        InvalidToken::WrongIssuer
    );
}

#[test]
fn critical_header_extensions_are_refused() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::EdDsa, &master);
    let pkcs8 = master.open(&key.sealed_private_key, b"t1/").err();
    assert!(pkcs8.is_some(), "the context includes the kid");
    let pkcs8 = master
        .open(
            &key.sealed_private_key,
            seal_context("t1", &key.kid).as_bytes(),
        )
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    header.crit = Some(vec!["exp".to_owned()]);
    let encoding_key = EncodingKey::from_ed_der(&pkcs8);
    let token = jsonwebtoken::encode(&header, &claims("t1"), &encoding_key).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", &[key], NOW, LIFETIME)),
        InvalidToken::Malformed
    );
}

#[test]
fn malformed_unknown_and_oversized_tokens_are_refused() {
    let (key, token) = signed(SigningAlgorithm::Es256);
    let keys = [key];
    for garbage in ["", "a", "a.b.c", "..", "eyJ9.eyJ9.AA"] {
        assert_eq!(
            reason(verify(garbage, "t1", &keys, NOW, LIFETIME)),
            InvalidToken::Malformed
        );
    }
    let (other_key, _) = signed(SigningAlgorithm::Es256);
    assert_eq!(
        reason(verify(&token, "t1", &[other_key], NOW, LIFETIME)),
        InvalidToken::UnknownKey
    );
    assert_eq!(
        reason(verify(&token, "t1", &[], NOW, LIFETIME)),
        InvalidToken::UnknownKey
    );

    let [header, payload, signature] = <[String; 3]>::try_from(parts(&token)).unwrap();
    let mut no_kid: Value = serde_json::from_slice(&unb64(&header)).unwrap();
    no_kid.as_object_mut().unwrap().remove("kid");
    let forged = format!(
        "{}.{payload}.{signature}",
        b64(no_kid.to_string().as_bytes())
    );
    assert_eq!(
        reason(verify(&forged, "t1", &keys, NOW, LIFETIME)),
        InvalidToken::UnknownKey
    );

    let long = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
    assert_eq!(
        reason(verify(&long, "t1", &keys, NOW, LIFETIME)),
        InvalidToken::TooLong
    );
}

#[test]
fn unusable_stored_key_is_a_key_error() {
    let (mut key, token) = signed(SigningAlgorithm::Es256);
    key.algorithm = "HS256".to_owned();
    let err = verify(&token, "t1", one(&key), NOW, LIFETIME).unwrap_err();
    assert_eq!(err.code(), "key_error");
    // A JWK of the wrong type for the stored algorithm is not used either.
    let (ed_key, _) = signed(SigningAlgorithm::EdDsa);
    key.algorithm = "ES256".to_owned();
    key.public_jwk = ed_key.public_jwk;
    let err = verify(&token, "t1", &[key], NOW, LIFETIME).unwrap_err();
    assert!(
        matches!(err, TokenError::Key(KeyError::StoredKey { .. })),
        "{err:?}"
    );
}

#[test]
fn sealed_keys_open_only_with_their_master_key_and_context() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::EdDsa, &master);
    let context = seal_context("t1", &key.kid);
    assert!(master
        .open(&key.sealed_private_key, context.as_bytes())
        .is_ok());

    let unsealed = |master: &MasterKey, sealed: &[u8], aad: &[u8]| {
        matches!(
            master.open(sealed, aad),
            Err(TokenError::Key(KeyError::Unseal))
        )
    };
    let sealed = &key.sealed_private_key;
    assert!(unsealed(&master, sealed, b"t2/whatever"));
    assert!(unsealed(
        &master,
        sealed,
        format!("t2/{}", key.kid).as_bytes()
    ));
    assert!(unsealed(&self::master(), sealed, context.as_bytes()));
    let err = sign(&claims("t1"), &key, "t1", &self::master()).unwrap_err();
    assert_eq!(err.code(), "key_error");

    for tampered in [
        [&[2], &sealed[1..]].concat(),
        sealed[..sealed.len() - 1].to_vec(),
        sealed[..1 + NONCE_LEN + TAG_LEN - 1].to_vec(),
        Vec::new(),
    ] {
        assert!(unsealed(&master, &tampered, context.as_bytes()));
    }
}

#[test]
fn seal_format_is_versioned_with_a_fresh_nonce() {
    let master = master();
    let rng = SystemRandom::new();
    let one = master.seal(b"secret", b"ctx", &rng).unwrap();
    let two = master.seal(b"secret", b"ctx", &rng).unwrap();
    assert_eq!(one[0], 1);
    assert_eq!(one.len(), 1 + NONCE_LEN + 6 + TAG_LEN);
    assert_ne!(one[1..1 + NONCE_LEN], two[1..1 + NONCE_LEN]);
    assert_eq!(master.open(&one, b"ctx").unwrap(), b"secret");
    assert_eq!(
        master
            .open(&master.seal(b"", b"", &rng).unwrap(), b"")
            .unwrap(),
        b""
    );
}

#[test]
fn master_key_from_text() {
    let key = master();
    let text = key.encode();
    assert_eq!(MasterKey::from_base64url(&text).unwrap(), key);
    assert_eq!(
        MasterKey::from_base64url(&format!("{text}\n")).unwrap(),
        key
    );
    for bad in [
        String::new(),
        b64(&[7; 31]),
        b64(&[7; 33]),
        format!("{text}="),
        base64::engine::general_purpose::STANDARD.encode([0xff; 32]),
    ] {
        let err = MasterKey::from_base64url(&bad).unwrap_err();
        assert!(
            matches!(err, TokenError::Key(KeyError::MasterKeyMalformed)),
            "{bad:?}"
        );
        assert_eq!(err.code(), "key_error");
    }
}

#[test]
fn master_key_debug_hides_the_key() {
    let key = master();
    let debug = format!("{key:?}");
    assert_eq!(debug, "MasterKey(***)");
    assert!(!debug.contains(&key.encode()));
}

#[test]
fn master_key_file_is_created_private_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let rng = SystemRandom::new();
    let created = MasterKey::load_or_create(&path, &rng).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{}\n", created.encode()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(MasterKey::load_or_create(&path, &rng).unwrap(), created);
    // Nothing but the key file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

    // A key written by hand without the newline loads too.
    fs::write(&path, created.encode()).unwrap();
    assert_eq!(MasterKey::load_or_create(&path, &rng).unwrap(), created);
}

#[test]
fn racing_processes_agree_on_one_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let keys: Vec<MasterKey> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| MasterKey::load_or_create(&path, &SystemRandom::new())))
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().unwrap().unwrap())
            .collect()
    });
    assert!(keys.iter().all(|key| *key == keys[0]));
    assert_eq!(
        MasterKey::load_or_create(&path, &SystemRandom::new()).unwrap(),
        keys[0]
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn corrupted_master_key_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    for corrupt in [
        &b"not a key\n"[..],
        b"",
        &[0xff, 0xfe],
        b64(&[1; 31]).as_bytes(),
    ] {
        fs::write(&path, corrupt).unwrap();
        let err = MasterKey::load_or_create(&path, &SystemRandom::new()).unwrap_err();
        assert!(matches!(
            err,
            TokenError::Key(KeyError::MasterKeyFileMalformed { .. })
        ));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // The bad file is left for the operator to look at, not replaced.
        assert_eq!(fs::read(&path).unwrap(), corrupt);
    }

    let missing_dir = dir.path().join("missing").join("master.key");
    let err = MasterKey::load_or_create(&missing_dir, &SystemRandom::new()).unwrap_err();
    assert!(
        matches!(err, TokenError::Key(KeyError::MasterKeyFile { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&missing_dir.display().to_string()),
        "{err}"
    );
}

#[test]
fn signing_algorithm_names() {
    for algorithm in BOTH {
        assert_eq!(SigningAlgorithm::parse(algorithm.as_str()), Some(algorithm));
        let json = serde_json::to_value(algorithm).unwrap();
        assert_eq!(json, algorithm.as_str());
        assert_eq!(
            serde_json::from_value::<SigningAlgorithm>(json).unwrap(),
            algorithm
        );
    }
    for unknown in ["es256", "EDDSA", "HS256", "none", ""] {
        assert_eq!(SigningAlgorithm::parse(unknown), None);
    }
}

#[test]
fn macs_are_stable_and_separated_by_purpose_and_key() {
    let a = master();
    let b = master();
    assert_ne!(a, b, "master() makes a fresh key");
    assert_eq!(a.mac("decoy", b"alice"), a.mac("decoy", b"alice"));
    assert_ne!(a.mac("decoy", b"alice"), a.mac("decoy", b"alicf"));
    assert_ne!(a.mac("decoy", b"alice"), a.mac("other", b"alice"));
    assert_ne!(a.mac("decoy", b"alice"), b.mac("decoy", b"alice"));
}

#[test]
fn cached_signing_gives_tokens_that_verify_and_keeps_keys_apart_by_tenant() {
    let sealer = master();
    let opened = OpenedKeys::default();
    for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let key = signing_key("t1", algorithm, &sealer);
        for _ in 0..2 {
            // Opened on the first call, from the cache on the second.
            let token = sign_cached(&claims("t1"), &key, "t1", &sealer, &opened).unwrap();
            assert_eq!(
                verify(&token, "t1", one(&key), NOW, LIFETIME).unwrap().sub,
                claims("t1").sub
            );
        }
        // The cache is keyed by tenant too: another tenant's seal context still fails to open.
        assert!(sign_cached(&claims("t2"), &key, "t2", &sealer, &opened).is_err());
    }
    // Another master key cannot open the key: the cache never stands in for the unsealing.
    let key = signing_key("t1", SigningAlgorithm::Es256, &sealer);
    let other = master();
    assert!(sign_cached(&claims("t1"), &key, "t1", &other, &OpenedKeys::default()).is_err());
}

#[test]
fn a_lifetime_over_the_cap_is_refused_whoever_signed_it() {
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::Es256, &master);
    let mut long = claims("t1");
    long.exp = long.iat + LIFETIME + 1;
    let token = sign(&long, &key, "t1", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", one(&key), NOW, LIFETIME)),
        InvalidToken::LifetimeTooLong
    );
    assert!(verify(&token, "t1", one(&key), NOW, LIFETIME + 1).is_ok());
    // Ten years, the attack on a leaked key.
    long.exp = long.iat + 10 * 365 * 86_400;
    let token = sign(&long, &key, "t1", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", one(&key), NOW, LIFETIME)),
        InvalidToken::LifetimeTooLong
    );
}

#[test]
fn a_retired_key_verifies_only_its_own_tokens_and_only_while_they_can_live() {
    let master = master();
    let mut key = signing_key("t1", SigningAlgorithm::Es256, &master);
    let before = sign(&claims("t1"), &key, "t1", &master).unwrap();
    key.retired_at = Some(NOW + 10);
    assert!(verify(&before, "t1", one(&key), NOW + 10, LIFETIME).is_ok());
    assert!(verify(&before, "t1", one(&key), NOW + LIFETIME - 1, LIFETIME).is_ok());
    // Signed after the retirement (beyond the clock skew): only a leaked key does that.
    let mut late = claims("t1");
    late.iat = NOW + 10 + MAX_CLOCK_SKEW + 1;
    late.exp = late.iat + LIFETIME;
    let token = sign(&late, &key, "t1", &master).unwrap();
    assert_eq!(
        reason(verify(&token, "t1", one(&key), late.iat, LIFETIME)),
        InvalidToken::RetiredKey
    );
    // Within the skew it is a node that had not seen the rotation yet.
    late.iat = NOW + 10 + MAX_CLOCK_SKEW;
    late.exp = late.iat + LIFETIME;
    let token = sign(&late, &key, "t1", &master).unwrap();
    assert!(verify(&token, "t1", one(&key), late.iat, LIFETIME).is_ok());
    // Once the longest token it may have signed has expired, the key verifies nothing (the
    // two checks above already imply it; the window is a second wall).
    let end = NOW + 10 + LIFETIME + MAX_CLOCK_SKEW;
    assert!(verify(&token, "t1", one(&key), end - 1, LIFETIME).is_ok());
    assert!(verify(&token, "t1", one(&key), end, LIFETIME).is_err());
}

#[test]
fn tokens_are_signed_as_jsonwebtoken_would_sign_them() {
    // Ed25519 signatures are deterministic: the same header, claims and key must give the same
    // token byte for byte as jsonwebtoken's own encoder.
    let master = master();
    let key = signing_key("t1", SigningAlgorithm::EdDsa, &master);
    let pkcs8 = master
        .open(
            &key.sealed_private_key,
            seal_context("t1", &key.kid).as_bytes(),
        )
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let theirs =
        jsonwebtoken::encode(&header, &claims("t1"), &EncodingKey::from_ed_der(&pkcs8)).unwrap();
    let ours = sign(&claims("t1"), &key, "t1", &master).unwrap();
    assert_eq!(ours, theirs);
    let cached = sign_cached(&claims("t1"), &key, "t1", &master, &OpenedKeys::default()).unwrap();
    assert_eq!(cached, theirs);
}
