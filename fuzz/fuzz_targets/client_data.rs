//! `CollectedClientData::parse`, then `verify` against a fixed relying party and against one built
//! from the parsed value itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passkeyd_webauthn::client_data::{ClientDataType, CollectedClientData};
use passkeyd_webauthn::RelyingParty;
use passkeyd_webauthn_fuzz::{expectation_from_client_data, CHALLENGE};

fuzz_target!(|data: &[u8]| {
    let parsed = CollectedClientData::parse(data);

    // A leading BOM is dropped, so adding one never changes the outcome.
    if !data.starts_with(b"\xEF\xBB\xBF") {
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(data);
        assert_eq!(CollectedClientData::parse(&with_bom), parsed);
    }

    let Ok(client_data) = parsed else {
        return;
    };
    let fixed = RelyingParty::new("example.org", ["https://example.org"]).allow_subdomains(true);
    for ceremony in [ClientDataType::Create, ClientDataType::Get] {
        let _ = client_data.verify(ceremony, CHALLENGE, &fixed);
    }

    let (rp, challenge) = expectation_from_client_data(data, "example.org");
    let ceremony = if client_data.type_ == "webauthn.create" {
        ClientDataType::Create
    } else {
        ClientDataType::Get
    };
    if client_data.verify(ceremony, &challenge, &rp).is_ok() {
        // Whatever verified carries exactly the expected type and origin.
        assert_eq!(client_data.type_, ceremony.as_str());
        assert!(rp.accepts_origin(&client_data.origin));
    }
});
