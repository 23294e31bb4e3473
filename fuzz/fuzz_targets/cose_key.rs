//! `CredentialPublicKey::from_cose` and `from_stored` on arbitrary bytes; an accepted key parses
//! the same way twice, through both, and can be asked to verify a signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::{CoseAlgorithm, CredentialPublicKey};

fuzz_target!(|data: &[u8]| {
    // The lenient path for stored records (no canonical-encoding check) must not panic either.
    let stored = CredentialPublicKey::from_stored(data);
    let Ok(key) = CredentialPublicKey::from_cose(data) else {
        return;
    };
    // Whatever registration accepts, authentication can load from the store.
    let stored = stored.expect("a key from_cose accepts is accepted by from_stored");
    assert_eq!(stored.material(), key.material());
    assert!(CoseAlgorithm::ALL.contains(&key.algorithm()));
    let again = CredentialPublicKey::from_cose(data).expect("parsing is deterministic");
    assert_eq!(again.algorithm(), key.algorithm());
    assert_eq!(again.material(), key.material());
    // The key bytes themselves are (almost surely) not a signature over this message.
    let _ = key.verify(b"passkeyd fuzz message", data);
    let _ = key.verify(b"", &[]);
});
