use super::*;

#[test]
fn web_origins_parse() {
    let o = WebOrigin::parse("https://shop.example.co.uk:8443").unwrap();
    assert_eq!(
        (o.scheme.as_str(), o.host.as_str(), o.port),
        ("https", "shop.example.co.uk", Some(8443))
    );
    for bad in [
        "https://",
        "https://Example.com",
        "https://example.com/",
        "ftp://example.com",
        "https://a@example.com",
        "https://example.com:0",
        "https://example..com",
        "android:apk-key-hash:abc",
    ] {
        assert!(WebOrigin::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn public_suffixes_and_registrable_suffixes() {
    assert!(is_public_suffix("com"));
    assert!(is_public_suffix("co.uk"));
    assert!(is_public_suffix("github.io"));
    assert!(!is_public_suffix("example.com"));
    assert!(!is_public_suffix("localhost"));
    assert!(is_registrable_suffix("example.com", "login.example.com"));
    assert!(is_registrable_suffix("example.com", "example.com"));
    assert!(is_registrable_suffix("localhost", "localhost"));
    assert!(!is_registrable_suffix("example.com", "badexample.com"));
    assert!(!is_registrable_suffix("co.uk", "example.co.uk"));
    assert!(!is_registrable_suffix("login.example.com", "example.com"));
    assert!(!is_registrable_suffix("0.1", "127.0.0.1"));
}

#[test]
fn labels_are_registrable_domains_without_their_suffix() {
    assert_eq!(registrable_label("shop.example.co.uk"), Some("example"));
    assert_eq!(registrable_label("example.com"), Some("example"));
    assert_eq!(registrable_label("alice.github.io"), Some("alice"));
    assert_eq!(registrable_label("co.uk"), None);
    assert_eq!(registrable_label("127.0.0.1"), None);
    let origins: Vec<String> = [
        "https://example.com",
        "https://example.co.uk",
        "https://shop.example.de",
        "https://other.com",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(labels(&origins), ["example", "other"]);
}

#[test]
fn fingerprints_and_apk_key_hash_origins() {
    let fp = (0..32)
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let bytes = parse_fingerprint(&fp).unwrap();
    assert_eq!(bytes[31], 31);
    assert_eq!(
        apk_key_hash_origin(&fp).unwrap(),
        format!("android:apk-key-hash:{}", URL_SAFE_NO_PAD.encode(bytes))
    );
    assert!(parse_fingerprint(&fp.to_lowercase()).is_none());
    assert!(parse_fingerprint(&fp[3..]).is_none());
    assert!(parse_fingerprint(&format!("{fp}:00")).is_none());
    assert!(parse_fingerprint(&fp.replace(':', "")).is_none());
}

#[test]
fn app_identifiers() {
    assert!(is_android_package("com.example.app"));
    assert!(is_android_package("com.example_2.app"));
    assert!(!is_android_package("example"));
    assert!(!is_android_package("com.1example"));
    assert!(!is_android_package("com..example"));
    assert!(is_apple_app_id("ABCDE12345.com.example.app"));
    assert!(!is_apple_app_id("abcde12345.com.example.app"));
    assert!(!is_apple_app_id("ABCDE1234.com.example.app"));
    assert!(!is_apple_app_id("ABCDE12345."));
}

#[test]
fn related_origins_are_checked() {
    assert!(check_related_origin("https://example.co.uk").is_ok());
    assert!(check_related_origin("http://app.localhost:3000").is_ok());
    assert!(check_related_origin("http://example.com").is_err());
    assert!(check_related_origin("https://10.0.0.1").is_err());
    assert!(check_related_origin("https://example.com/login").is_err());
}
