//! `MetadataBlob::verify` on arbitrary text. With no roots configured nothing may verify, so
//! every input runs the JWT, header, algorithm and `x5c` parsers and stops at the trust decision
//! at the latest. Also `MdsDate::parse` (which must round-trip) and `subject_key_identifier`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::mds::{subject_key_identifier, MdsDate, MetadataBlob};
use passkeyd_webauthn::TrustAnchors;
use passkeyd_webauthn_fuzz::NOW;

fuzz_target!(|data: &[u8]| {
    let _ = subject_key_identifier(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(MetadataBlob::verify(text, &TrustAnchors::new(), NOW).is_err());
    if let Some(date) = MdsDate::parse(text) {
        assert_eq!(date.to_string(), text);
    }
});
