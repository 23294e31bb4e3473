//! Attestation roots bundled with the crate (see `roots/README.md` for their sources).
//!
//! These are data compiled in with `include_str!`, so the crate still does no I/O. Each root
//! anchors only the statement formats its vendor uses.

use std::sync::OnceLock;

use crate::attestation::AttestationFormat;
use crate::trust::TrustAnchors;

const APPLE: &str = include_str!("../roots/apple_webauthn_root_ca.pem");
const GOOGLE_HARDWARE: [&str; 4] = [
    include_str!("../roots/google_hardware_attestation_root_1.pem"),
    include_str!("../roots/google_hardware_attestation_root_2.pem"),
    include_str!("../roots/google_hardware_attestation_root_3.pem"),
    include_str!("../roots/google_hardware_attestation_root_4.pem"),
];
const SAFETYNET: [&str; 2] = [
    include_str!("../roots/globalsign_root_ca.pem"),
    include_str!("../roots/google_safetynet_ca.pem"),
];
const MICROSOFT_TPM: &str = include_str!("../roots/microsoft_tpm_root_ca_2014.pem");
const YUBICO: &str = include_str!("../roots/yubico_u2f_root_ca_serial_457200631.pem");

fn anchors(pems: &[&str]) -> TrustAnchors {
    let mut anchors = TrustAnchors::new();
    for pem in pems {
        // The bundled files are checked by the tests below; a file that failed to parse would
        // only mean fewer anchors, never more.
        let _ = anchors.add_pem(pem);
    }
    anchors
}

/// The bundled roots that anchor statements of `format` (empty for `none` and `compound`).
pub fn for_format(format: AttestationFormat) -> &'static TrustAnchors {
    static APPLE_ROOTS: OnceLock<TrustAnchors> = OnceLock::new();
    static ANDROID_KEY: OnceLock<TrustAnchors> = OnceLock::new();
    static SAFETYNET_ROOTS: OnceLock<TrustAnchors> = OnceLock::new();
    static TPM: OnceLock<TrustAnchors> = OnceLock::new();
    static FIDO: OnceLock<TrustAnchors> = OnceLock::new();
    static NONE: OnceLock<TrustAnchors> = OnceLock::new();
    match format {
        AttestationFormat::Apple => APPLE_ROOTS.get_or_init(|| anchors(&[APPLE])),
        AttestationFormat::AndroidKey => ANDROID_KEY.get_or_init(|| anchors(&GOOGLE_HARDWARE)),
        AttestationFormat::AndroidSafetyNet => SAFETYNET_ROOTS.get_or_init(|| anchors(&SAFETYNET)),
        AttestationFormat::Tpm => TPM.get_or_init(|| anchors(&[MICROSOFT_TPM])),
        AttestationFormat::Packed | AttestationFormat::FidoU2f => {
            FIDO.get_or_init(|| anchors(&[YUBICO]))
        }
        AttestationFormat::None | AttestationFormat::Compound => {
            NONE.get_or_init(TrustAnchors::new)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_root_parses() {
        let all = [APPLE, MICROSOFT_TPM, YUBICO]
            .into_iter()
            .chain(GOOGLE_HARDWARE)
            .chain(SAFETYNET);
        for pem in all {
            let mut anchors = TrustAnchors::new();
            assert_eq!(anchors.add_pem(pem), Ok(1));
        }
        assert_eq!(for_format(AttestationFormat::AndroidKey).len(), 4);
        assert_eq!(for_format(AttestationFormat::Apple).len(), 1);
        assert!(for_format(AttestationFormat::None).is_empty());
    }

    #[test]
    fn every_file_in_the_directory_is_bundled_and_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("roots");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let source = include_str!("roots.rs");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".pem") {
                assert!(source.contains(&name), "{name} is not bundled");
                let stem = name.trim_end_matches(".pem");
                let listed = readme.contains(&name)
                    || readme.contains(stem.trim_end_matches(char::is_numeric));
                assert!(listed, "{name} is not in roots/README.md");
            }
        }
    }
}
