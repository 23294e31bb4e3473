//! The floor: bare aws-lc-rs ECDSA P-256 signature checks on the calling thread.
//!
//! Each check is what any verifier holding a stored public key must do per sign-in:
//! `UnparsedPublicKey::verify` of a DER signature over `authenticatorData || SHA-256(clientData)`
//! (69 + 32 bytes, hashed again with SHA-256 inside). The messages are distinct, so no cache helps.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::Serialize;

/// Messages per round.
const BATCH: usize = 64;

/// What [`measure`] found.
#[derive(Debug, Serialize)]
pub(crate) struct RawVerify {
    pub(crate) algorithm: &'static str,
    pub(crate) checks: u64,
    pub(crate) seconds: f64,
    /// Mean over the whole run.
    pub(crate) mean_ns: f64,
    /// The median round of [`BATCH`] checks, per check.
    pub(crate) median_ns: f64,
    /// The fastest round, per check (what an idle core gives).
    pub(crate) min_ns: f64,
    /// `1e9 / median_ns`.
    pub(crate) per_second: f64,
}

/// Verifies signatures for `duration` (at least 20 rounds).
pub(crate) fn measure(duration: Duration) -> RawVerify {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        .expect("aws-lc-rs P-256 key generation does not fail");
    let point = key.public_key().as_ref().to_vec();
    let inputs: Vec<(Vec<u8>, Vec<u8>)> = (0..BATCH)
        .map(|i| {
            // rpIdHash, flags, counter, then the client data hash: the shape of a real message.
            let mut message = vec![0x49; 32];
            message.push(0x05);
            message.extend_from_slice(&u32::try_from(i + 1).unwrap_or(u32::MAX).to_be_bytes());
            message.extend_from_slice(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &i.to_be_bytes()).as_ref(),
            );
            let sig = key
                .sign(&rng, &message)
                .expect("aws-lc-rs P-256 signing does not fail");
            (message, sig.as_ref().to_vec())
        })
        .collect();
    let round = || {
        let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &point);
        inputs
            .iter()
            .all(|(m, s)| key.verify(black_box(m), black_box(s)).is_ok())
    };
    assert!(round(), "every raw signature must verify before timing");

    let mut rounds = Vec::new();
    let start = Instant::now();
    while rounds.len() < 20 || start.elapsed() < duration {
        let t = Instant::now();
        black_box(round());
        rounds.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    let seconds = start.elapsed().as_secs_f64();
    let checks = (rounds.len() * BATCH) as u64;
    let mean_ns = seconds * 1e9 / checks as f64;
    rounds.sort_by(f64::total_cmp);
    let median_ns = rounds[rounds.len() / 2];
    RawVerify {
        algorithm: "ES256 (aws-lc-rs UnparsedPublicKey::verify)",
        checks,
        seconds,
        mean_ns,
        median_ns,
        min_ns: rounds[0],
        per_second: 1e9 / median_ns,
    }
}
