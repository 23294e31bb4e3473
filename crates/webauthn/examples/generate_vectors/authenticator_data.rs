//! SECURITY.md §6 cases 8, 9, 15, 16, 20, 21, 31, 46, 47: authenticator data structure and flags.

use super::*;

pub(super) fn cases(f: &Fixtures, out: &mut Vec<Vector>) {
    let es = &f.es256;
    let bad = "authenticator_data_invalid";
    // Case 15: AT and ED.
    out.push(
        reg(
            es,
            "reg_at_clear_with_attested_data",
            15,
            "AT cleared, attested credential data kept",
            |b| b.attested_data_flag(false),
        )
        .fails(bad, "the attested data is left over as trailing bytes"),
    );
    out.push(
        reg(
            es,
            "reg_at_set_without_attested_data",
            15,
            "AT set, attested credential data removed",
            |b| b.omit_attested_data(),
        )
        .fails(bad, "AT promises attested data that is not there"),
    );
    out.push(
        reg(
            es,
            "reg_at_clear_without_attested_data",
            15,
            "AT cleared and attested credential data removed",
            |b| b.omit_attested_data().attested_data_flag(false),
        )
        .fails(bad, "a registration must carry attested credential data"),
    );
    out.push(
        reg(
            es,
            "reg_bytes_after_attested_data",
            15,
            "two bytes after the attested credential data",
            |b| b.trailing_bytes(vec![0xa0, 0x00]),
        )
        .fails(bad, "trailing bytes"),
    );
    out.push(
        reg(
            es,
            "reg_ed_set_without_extensions",
            15,
            "ED set, no extensions",
            |b| b.set_flag(ED, true),
        )
        .fails(bad, "ED promises extensions that are not there"),
    );
    let ext = encode_cbor(&Cbor::Map(vec![(
        Cbor::Text("credProtect".into()),
        Cbor::from(2),
    )]));
    out.push(
        reg(
            es,
            "reg_extensions_without_ed",
            15,
            "a credProtect extension map with ED clear",
            |b| b.extensions(ext.clone()).set_flag(ED, false),
        )
        .fails(bad, "the extension map is left over as trailing bytes"),
    );
    out.push(
        reg(
            es,
            "reg_extensions_not_map",
            15,
            "ED set, extensions = [1] (an array)",
            |b| b.extensions(encode_cbor(&Cbor::Array(vec![Cbor::from(1)]))),
        )
        .fails(bad, "extensions must be a CBOR map"),
    );
    out.push(
        reg(
            es,
            "reg_extensions_duplicate_key",
            17,
            "ED set, extensions = {\"a\": 1, \"a\": 2}",
            |b| b.extensions(vec![0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]),
        )
        .fails(bad, "a key appears twice in the extension map"),
    );
    // Case 16: assertion authenticator data length.
    out.push(
        auth(
            es,
            "auth_authenticator_data_trailing_byte",
            16,
            "38-byte authenticator data, ED clear",
            |b| b.trailing_bytes(vec![0x00]),
        )
        .fails(bad, "leftover byte after the 37-byte header"),
    );
    out.push(
        auth(
            es,
            "auth_authenticator_data_36_bytes",
            16,
            "authenticator data cut to 36 bytes (re-signed)",
            |b| {
                let mut data = sha256_of(RP_ID.as_bytes());
                data.extend_from_slice(&[UP | UV, 0, 0, 0]);
                b.authenticator_data(data)
            },
        )
        .fails(bad, "shorter than the fixed header"),
    );
    out.push(
        auth(
            es,
            "auth_ed_set_without_extensions",
            16,
            "ED set in an assertion without extensions",
            |b| b.set_flag(ED, true),
        )
        .fails(bad, "ED promises extensions that are not there"),
    );
    out.push(
        auth(
            es,
            "auth_at_set_without_attested_data",
            16,
            "AT set in an assertion without attested data",
            |b| b.set_flag(AT, true),
        )
        .fails(bad, "AT promises attested data that is not there"),
    );
    out.push(
        auth(
            es,
            "auth_garbage_authenticator_data_and_signature",
            37,
            "authenticatorData = signature = \"AAAA\" (3 zero bytes)",
            |b| b.authenticator_data(vec![0, 0, 0]).signature(vec![0, 0, 0]),
        )
        .fails(bad, "three bytes are not authenticator data"),
    );

    // Case 8 (and 9): rpIdHash.
    out.push(
        reg(
            es,
            "reg_rp_id_hash_other_rp",
            8,
            "rpIdHash = SHA-256(\"evil.example\")",
            |b| b.rp_id("evil.example"),
        )
        .fails("rp_id_mismatch", "the credential is scoped to another RP"),
    );
    out.push(
        auth(
            es,
            "auth_rp_id_hash_other_rp",
            8,
            "rpIdHash = SHA-256(\"evil.example\"), re-signed with the real key",
            |b| b.rp_id("evil.example"),
        )
        .fails("rp_id_mismatch", "the assertion is scoped to another RP"),
    );
    out.push(
        auth(
            es,
            "auth_rp_id_hash_unrequested_appid",
            9,
            "rpIdHash = SHA-256(\"https://rp.example\") (an AppID) without the appid extension",
            |b| b.rp_id(ORIGIN),
        )
        .fails(
            "rp_id_mismatch",
            "the AppID hash is only acceptable when appid was requested",
        ),
    );

    // Cases 20-21, 46: UP and UV.
    out.push(
        reg(
            es,
            "reg_up_clear",
            20,
            "UP cleared in a normal create",
            |b| b.user_present(false),
        )
        .fails(
            "user_presence_required",
            "user presence is required outside conditional create",
        ),
    );
    out.push(
        reg(
            es,
            "reg_up_clear_conditional_create",
            20,
            "UP cleared in a conditional create (positive control)",
            |b| b.user_present(false),
        )
        .with("require_user_presence", false)
        .passes(registered(
            "none",
            CoseAlgorithm::Es256,
            &es.cose_key(),
            &es.id,
            es.aaguid,
            UV,
        )),
    );
    out.push(
        reg(
            es,
            "reg_uv_required_absent",
            21,
            "UV cleared while registration requires UV",
            |b| b.user_verified(false),
        )
        .with("user_verification", "required")
        .fails("user_verification_required", "UV flag clear"),
    );
    out.push(
        auth(
            es,
            "auth_uv_required_absent",
            32,
            "UV cleared while authentication requires UV",
            |b| b.user_verified(false),
        )
        .with("user_verification", "required")
        .fails("user_verification_required", "UV flag clear"),
    );
    out.push(
        auth(es, "auth_up_clear", 46, "UP cleared (UV set)", |b| {
            b.user_present(false)
        })
        .fails("user_presence_required", "silent assertions are refused"),
    );
    out.push(
        auth(es, "auth_up_clear_uv_clear", 46, "UP and UV cleared", |b| {
            b.user_present(false).user_verified(false)
        })
        .fails("user_presence_required", "silent assertions are refused"),
    );

    // Cases 31, 47: BE and BS.
    out.push(
        reg(es, "reg_be_clear_bs_set", 31, "BE=0 with BS=1", |b| {
            b.backup_state(true)
        })
        .fails("backup_state_invalid", "BS without BE is impossible"),
    );
    out.push(
        auth(es, "auth_be_clear_bs_set", 47, "BE=0 with BS=1", |b| {
            b.backup_state(true)
        })
        .fails("backup_state_invalid", "BS without BE is impossible"),
    );
    out.push(
        auth(
            es,
            "auth_backup_eligibility_appeared",
            47,
            "registered with BE=0, asserts BE=1",
            |b| b.backup_eligible(true),
        )
        .fails("backup_eligibility_changed", "BE is fixed at creation"),
    );
    out.push(
        auth(
            es,
            "auth_backup_eligibility_disappeared",
            47,
            "registered with BE=1, asserts BE=0",
            |b| b,
        )
        .with("stored_backup_eligible", true)
        .fails("backup_eligibility_changed", "BE is fixed at creation"),
    );
    out.push(
        auth(
            es,
            "auth_backup_eligibility_upgrade_allowed",
            47,
            "registered with BE=0, asserts BE=1 and BS=1, upgrade allowed (positive control)",
            |b| b.backup_eligible(true).backup_state(true),
        )
        .with("allow_backup_eligibility_upgrade", true)
        .passes(authenticated(es, 0, UP | UV | BE | BS)),
    );
}

fn sha256_of(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}
