//! `passkeyd seed`: fills a tenant with many users and credentials, for measuring how ceremonies
//! behave on a large database (docs/performance.md, "Scale"). The users are named
//! `seed-<run>-<n>`, each with one ES256 credential whose private key is thrown away: they can
//! never sign in, and they are plainly not real accounts.

use std::io::Write;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use clap::Args;
use passkeyd_webauthn::json::base64url_encode;

use crate::api_keys::random_bytes;
use crate::config::Config;
use crate::store::{self, Credential, NewRegistration, User};
use crate::tenant::TenantId;

/// Registrations written per transaction.
const BATCH: usize = 5_000;

/// Arguments of `passkeyd seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The tenant to fill.
    #[arg(long, default_value = "default", value_parser = super::tenant::parse_id)]
    pub tenant: TenantId,
    /// How many users to add, each with one credential.
    #[arg(long)]
    pub credentials: u64,
}

/// Adds `args.credentials` users with one credential each, in batches of 5,000 per
/// transaction, and reports the rate.
pub async fn run(args: SeedArgs, config: &Config, out: &mut impl Write) -> Result<(), String> {
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    store
        .tenant(&args.tenant)
        .await
        .map_err(|e| format!("tenant {}: {e}", args.tenant))?;
    let rng = SystemRandom::new();
    let public_key = cose_p256_key()?;
    let run = base64url_encode(&random_bytes::<6>(&rng).map_err(|e| e.to_string())?);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let started = Instant::now();
    let mut written = 0_u64;
    while written < args.credentials {
        let size = (args.credentials - written).min(BATCH as u64);
        let mut batch = Vec::with_capacity(BATCH);
        for n in written..written + size {
            let user_id = format!("seed-{run}-{n}");
            batch.push(NewRegistration {
                user: User {
                    id: user_id.clone(),
                    user_handle: random_bytes::<32>(&rng)
                        .map_err(|e| e.to_string())?
                        .to_vec(),
                    name: user_id.clone(),
                    display_name: user_id.clone(),
                    created_at: now,
                    failed_attempts: 0,
                    last_failed_at: None,
                },
                credential: Credential {
                    id: random_bytes::<32>(&rng)
                        .map_err(|e| e.to_string())?
                        .to_vec(),
                    user_id,
                    public_key: public_key.clone(),
                    algorithm: -7,
                    sign_count: 0,
                    uv_initialized: true,
                    backup_eligible: true,
                    backup_state: true,
                    transports: vec!["internal".to_owned(), "hybrid".to_owned()],
                    aaguid: vec![0; 16],
                    attestation_format: "none".to_owned(),
                    attestation_type: "none".to_owned(),
                    attestation_object: Vec::new(),
                    friendly_name: None,
                    created_at: now,
                    last_used_at: None,
                    prf_enabled: false,
                },
                max_credentials: None,
            });
        }
        store
            .insert_registrations(&args.tenant, &batch)
            .await
            .map_err(|e| format!("after {written} credentials: {e}"))?;
        written += size;
    }
    let seconds = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "{{\"tenant\":\"{}\",\"credentials\":{written},\"seconds\":{seconds:.2},\"per_second\":{:.0}}}",
        args.tenant,
        written as f64 / seconds.max(f64::EPSILON)
    )
    .map_err(|e| e.to_string())?;
    store.close().await;
    Ok(())
}

/// A fresh P-256 public key as a COSE_Key (RFC 9053 EC2: kty 2, alg -7, crv 1, x, y).
///
/// Written by hand because the layout is fixed (a five-entry map of small integers and two
/// 32-byte strings) and the server does not otherwise depend on a CBOR encoder.
fn cose_p256_key() -> Result<Vec<u8>, String> {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|e| e.to_string())?;
    let point = pair.public_key().as_ref();
    // Uncompressed SEC1: 0x04 || x || y.
    let (x, y) = point[1..].split_at(32);
    let mut key = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
    key.extend_from_slice(x);
    key.extend_from_slice(&[0x22, 0x58, 0x20]);
    key.extend_from_slice(y);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_key_is_a_cose_key_the_verifier_accepts() {
        let key = cose_p256_key().unwrap();
        assert_eq!(key.len(), 77);
        let parsed = passkeyd_webauthn::cose_key::CredentialPublicKey::from_cose(&key).unwrap();
        assert_eq!(parsed.algorithm().to_i64(), -7);
        // A signature by another key does not verify: the key is the one written.
        assert!(!parsed.verify(
            b"message",
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]
        ));
    }
}
