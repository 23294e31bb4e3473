use super::*;

fn tenant(rp_id: &str, origins: &[&str], settings: serde_json::Value) -> Tenant {
    Tenant {
        id: crate::tenant::TenantId::parse("t").unwrap(),
        name: "t".to_owned(),
        rp_id: rp_id.to_owned(),
        rp_name: "t".to_owned(),
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        settings: settings.as_object().cloned().unwrap(),
        created_at: 0,
    }
}

fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}

#[test]
fn a_good_tenant_is_ok() {
    let good = tenant("example.com", &["https://login.example.com"], json!({}));
    assert_eq!(codes(&tenant_findings(&good)), ["tenant_ok"]);
    let local = tenant("localhost", &["http://localhost:8080"], json!({}));
    assert_eq!(codes(&tenant_findings(&local)), ["tenant_ok"]);
}

#[test]
fn bad_tenants_are_found() {
    let cases = [
        (
            tenant("co.uk", &["https://shop.co.uk"], json!({})),
            "rp_id_public_suffix",
        ),
        (
            tenant("10.0.0.1", &["https://10.0.0.1"], json!({})),
            "rp_id_ip_address",
        ),
        (
            tenant("example.com", &["https://example.org"], json!({})),
            "rp_id_not_suffix_of_origin",
        ),
        (
            tenant("example.com", &["http://example.com"], json!({})),
            "origin_insecure",
        ),
        (
            tenant("example.com", &["https://example.com:8443"], json!({})),
            "origin_has_port",
        ),
        (
            tenant("example.com", &["https://Example.com"], json!({})),
            "origin_invalid",
        ),
        (
            tenant(
                "example.com",
                &["https://example.com"],
                json!({"token_ttl_secs": 3600}),
            ),
            "token_ttl_long",
        ),
        (
            tenant(
                "example.com",
                &["https://example.com"],
                json!({"user_token_max_ttl_secs": 86400}),
            ),
            "user_token_ttl_long",
        ),
        (
            tenant(
                "example.com",
                &["https://example.com"],
                json!({"timeout_ms": 1}),
            ),
            "settings_invalid",
        ),
    ];
    for (tenant, code) in cases {
        let found = tenant_findings(&tenant);
        assert!(codes(&found).contains(&code), "{code}: {found:?}");
    }
}

#[test]
fn related_origins_over_the_limit_are_found_even_if_stored_by_other_means() {
    let related: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|l| format!("https://{l}.com"))
        .collect();
    let found = related_findings(
        &tenant("example.com", &["https://example.com"], json!({})),
        &related,
    );
    assert_eq!(codes(&found), ["related_origins_over_label_limit"]);
    assert!(found[0]
        .message
        .contains(": browsers read only the first 5, so origins under f"));
}

#[test]
fn clocks_and_mds() {
    assert_eq!(clock_finding(100, None), None);
    assert_eq!(clock_finding(100, Some(101)), None);
    assert_eq!(
        clock_finding(100, Some(110)).unwrap().severity,
        Severity::Warning
    );
    assert_eq!(
        clock_finding(100, Some(200)).unwrap().severity,
        Severity::Error
    );
    assert!(mds_findings(&MdsState::Missing, &[]).is_empty());
    assert_eq!(
        codes(&mds_findings(&MdsState::Missing, &["t".to_owned()])),
        ["mds_missing"]
    );
    assert_eq!(
        codes(&mds_findings(&MdsState::Unusable("x".into()), &[])),
        ["mds_expired"]
    );
}

#[test]
fn mismatches_are_explained() {
    let accepted = vec![
        "https://example.com".to_owned(),
        "https://login.example.com:8443".to_owned(),
    ];
    let finding = |code, origin| {
        mismatch_details(code, "example.com", &accepted, Some(origin), false).unwrap()["finding"]
            .clone()
    };
    assert_eq!(
        finding("origin_mismatch", "http://example.com"),
        "origin_scheme_mismatch"
    );
    assert_eq!(
        finding("origin_mismatch", "https://login.example.com"),
        "origin_port_mismatch"
    );
    assert_eq!(
        finding("origin_mismatch", "https://www.example.com"),
        "origin_not_listed"
    );
    assert_eq!(
        finding("origin_mismatch", "https://example.org"),
        "origin_not_related"
    );
    assert_eq!(
        finding("origin_mismatch", "android:apk-key-hash:abc"),
        "android_app_not_listed"
    );
    assert_eq!(
        finding("rp_id_mismatch", "https://example.org"),
        "rp_id_not_suffix_of_origin"
    );
    assert_eq!(
        finding("rp_id_mismatch", "https://example.com"),
        "rp_id_hash_mismatch"
    );
    let public = mismatch_details(
        "origin_mismatch",
        "example.com",
        &accepted,
        Some("https://x.org"),
        false,
    )
    .unwrap();
    assert!(public["expected"].get("origins").is_none());
    let secret = mismatch_details(
        "origin_mismatch",
        "example.com",
        &accepted,
        Some("https://x.org"),
        true,
    )
    .unwrap();
    assert_eq!(secret["expected"]["origins"], json!(accepted));
    assert!(mismatch_details("challenge_mismatch", "example.com", &accepted, None, true).is_none());
}
