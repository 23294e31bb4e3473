use super::*;

const ALLOW_LIST: &str = include_str!("../../../../docs/policies/aaguid-allow-list.cedar");
const ADMINS_NEED_UV: &str = include_str!("../../../../docs/policies/admins-need-uv.cedar");
const MAX_10: &str = include_str!("../../../../docs/policies/max-10-credentials.cedar");
const MAIL_ROLES: &str = include_str!("../../../../docs/policies/mail-roles.cedar");
const FRESH_PASSKEY: &str =
    include_str!("../../../../docs/policies/fresh-passkey-for-new-factors.cedar");
const README: &str = include_str!("../../../../docs/policies/README.md");

const YUBIKEY_5: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";

fn policies(text: &str) -> TenantPolicies {
    check(text).unwrap_or_else(|e| panic!("{e}"))
}

fn api_key() -> Principal {
    Principal::ApiKey {
        prefix: "sk_AAAAAAAAAAAA".to_owned(),
    }
}

fn user(id: &str, role: Option<&str>, domain: Option<&str>) -> Principal {
    Principal::User {
        id: id.to_owned(),
        role: role.map(str::to_owned),
        domain: domain.map(str::to_owned),
        token: None,
    }
}

/// A credential of `owner` (user name `owner@domain`) as registered with packed attestation.
fn credential(owner: &str, domain: &str) -> Resource {
    Resource {
        user_id: owner.to_owned(),
        user_domain: user_domain(&format!("{owner}@{domain}")),
        aaguid: Some(YUBIKEY_5.to_owned()),
        attestation_format: Some("packed".to_owned()),
        attestation_type: Some("basic".to_owned()),
        attestation_trusted: Some(true),
        user_verified: Some(true),
        backup_eligible: Some(false),
        transports: vec!["usb".to_owned(), "nfc".to_owned()],
        credential_count: 1,
        credential_id: Some("Y3JlZA".to_owned()),
        ..Resource::default()
    }
}

/// The notices of a denial; panics on anything else.
fn denied(result: Result<Vec<String>, ApiError>) -> Vec<String> {
    match result {
        Err(ApiError::PolicyDenied { notices }) => notices,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn the_schema_parses_and_the_docs_show_it_verbatim() {
    let (_, warnings) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    assert_eq!(warnings.count(), 0);
    assert_eq!(schema().actions().count(), 4);
    assert!(
        README.contains(SCHEMA.trim()),
        "docs/policies/README.md must carry src/policy/schema.cedarschema verbatim"
    );
}

#[test]
fn every_example_validates_and_has_a_notice() {
    for (name, text) in [
        ("aaguid-allow-list", ALLOW_LIST),
        ("admins-need-uv", ADMINS_NEED_UV),
        ("max-10-credentials", MAX_10),
        ("mail-roles", MAIL_ROLES),
        ("fresh-passkey-for-new-factors", FRESH_PASSKEY),
    ] {
        let checked = check(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            checked.warnings().is_empty(),
            "{name}: {:?}",
            checked.warnings()
        );
        assert!(text.contains("@notice("), "{name}");
        assert!(
            README.contains(&format!("{name}.cedar")),
            "{name} is not in the README"
        );
    }
}

#[test]
fn invalid_policies_are_refused_with_where_and_why() {
    let syntax = "permit (principal, action, resource);\n\nforbid (principal, action resource);";
    let PolicyError::Parse(messages) = check(syntax).unwrap_err() else {
        panic!("a syntax error is a parse error")
    };
    assert!(messages[0].starts_with("line 3, column "), "{messages:?}");

    let unknown_attribute =
        "permit (principal, action, resource) when { resource.colour == \"red\" };";
    let PolicyError::Invalid(messages) = check(unknown_attribute).unwrap_err() else {
        panic!("an unknown attribute is a validation error")
    };
    assert!(messages[0].contains("colour"), "{messages:?}");

    for (text, what) in [
        (
            "permit (principal, action == Passkeyd::Action::\"Delete\", resource);",
            "unknown action",
        ),
        (
            "permit (principal is Passkeyd::Admin, action, resource);",
            "unknown entity type",
        ),
        (
            "forbid (principal, action, resource) unless { resource.aaguid == \"x\" };",
            "optional attribute without `has`",
        ),
        (
            "forbid (principal, action, resource) when { principal.role == \"x\" };",
            "an attribute an API key does not have",
        ),
        (
            "forbid (principal, action, resource) when { resource.credentialCount == \"10\" };",
            "a type error",
        ),
        (
            "permit (principal == ?principal, action, resource);",
            "a template",
        ),
    ] {
        assert!(
            matches!(check(text), Err(PolicyError::Invalid(_))),
            "{what}: {:?}",
            check(text).map(|p| p.len())
        );
    }
    assert_eq!(check("").unwrap_err(), PolicyError::Empty);
    assert_eq!(
        check("// only a comment\n").unwrap_err(),
        PolicyError::Empty
    );
    let huge = format!(
        "permit (principal, action, resource);{}",
        " ".repeat(MAX_POLICY_BYTES)
    );
    assert_eq!(check(&huge).unwrap_err(), PolicyError::TooLarge);
}

#[test]
fn the_allow_list_counts_only_trusted_attested_models() {
    let p = policies(ALLOW_LIST);
    let notice = "Only approved security keys can be registered here (YubiKey 5 series).";
    let good = credential("alice", "example.com");
    assert_eq!(
        p.decide(&api_key(), Action::Register, &good).unwrap(),
        Vec::<String>::new()
    );

    // The same AAGUID without a certificate behind it: not counted.
    for attestation_type in ["self", "none"] {
        let claimed = Resource {
            attestation_type: Some(attestation_type.to_owned()),
            attestation_trusted: Some(false),
            ..good.clone()
        };
        assert_eq!(
            denied(p.decide(&api_key(), Action::Register, &claimed)),
            [notice],
            "{attestation_type}"
        );
    }
    // A certificate, but not from a trusted root.
    let untrusted = Resource {
        attestation_trusted: Some(false),
        ..good.clone()
    };
    assert_eq!(
        denied(p.decide(&api_key(), Action::Register, &untrusted)),
        [notice]
    );
    // A trusted certificate for a model that is not on the list.
    let other_model = Resource {
        aaguid: Some("00000000-0000-0000-0000-000000000001".to_owned()),
        ..good.clone()
    };
    assert_eq!(
        denied(p.decide(&api_key(), Action::Register, &other_model)),
        [notice]
    );
    // Upper case is the same model.
    let upper = Resource {
        aaguid: Some(YUBIKEY_5.to_uppercase()),
        ..good.clone()
    };
    p.decide(&api_key(), Action::Register, &upper).unwrap();
    // It only judges registrations: signing in with a stored none credential is fine.
    let stored_none = Resource {
        attestation_type: Some("none".to_owned()),
        attestation_trusted: None,
        ..good
    };
    p.decide(&api_key(), Action::Authenticate, &stored_none)
        .unwrap();
}

#[test]
fn admins_need_user_verification() {
    let p = policies(ADMINS_NEED_UV);
    let notice = "Administrators must verify themselves with a PIN or biometrics on their passkey.";
    let without_uv = Resource {
        user_verified: Some(false),
        ..credential("ada", "example.com")
    };
    let with_uv = credential("ada", "example.com");
    for role in ["DomainAdmin", "MasterAdmin"] {
        let admin = user("ada", Some(role), Some("example.com"));
        for action in [Action::Register, Action::Authenticate] {
            assert_eq!(denied(p.decide(&admin, action, &without_uv)), [notice]);
            p.decide(&admin, action, &with_uv).unwrap();
        }
        // Where UV is not known yet (the start of an MFA enrolment), nothing is refused.
        let unknown = Resource {
            user_verified: None,
            ..without_uv.clone()
        };
        p.decide(&admin, Action::EnrolMfa, &unknown).unwrap();
    }
    for principal in [
        user("ada", Some("MailUser"), None),
        user("ada", None, None),
        api_key(),
    ] {
        p.decide(&principal, Action::Register, &without_uv).unwrap();
        p.decide(&principal, Action::Authenticate, &without_uv)
            .unwrap();
    }
}

#[test]
fn at_most_ten_credentials() {
    let p = policies(MAX_10);
    let notice = "You already have 10 passkeys, the most allowed. Remove one to add another.";
    let with = |count: u32| Resource {
        credential_count: count,
        ..credential("bob", "example.com")
    };
    for count in [0, 9] {
        p.decide(&api_key(), Action::Register, &with(count))
            .unwrap();
    }
    for count in [10, 11, u32::MAX] {
        assert_eq!(
            denied(p.decide(&api_key(), Action::Register, &with(count))),
            [notice]
        );
        let me = user("bob", None, None);
        assert_eq!(
            denied(p.decide(&me, Action::EnrolMfa, &with(count))),
            [notice]
        );
        // Using or managing existing credentials is not limited.
        p.decide(&api_key(), Action::Authenticate, &with(count))
            .unwrap();
        p.decide(&me, Action::ManageCredential, &with(count))
            .unwrap();
    }
}

#[test]
fn mail_roles_decide_who_manages_whose_credentials() {
    let p = policies(MAIL_ROLES);
    let manage = |principal: &Principal, resource: &Resource| {
        p.decide(principal, Action::ManageCredential, resource)
    };
    let carol_s = credential("carol", "Example.COM");
    let dave_s = credential("dave", "example.com");
    let erin_s = credential("erin", "other.org");
    let no_domain = Resource {
        user_domain: None,
        ..credential("frank", "x")
    };

    let carol = user("carol", Some("MailUser"), Some("example.com"));
    manage(&carol, &carol_s).unwrap();
    for other in [&dave_s, &erin_s] {
        assert_eq!(
            denied(manage(&carol, other)),
            ["You can manage only your own passkeys."]
        );
    }

    let domain_admin = user("dora", Some("DomainAdmin"), Some("example.com"));
    manage(&domain_admin, &carol_s).unwrap();
    manage(&domain_admin, &dave_s).unwrap();
    let outside = "Domain administrators can manage only the passkeys of their own domain.";
    assert_eq!(denied(manage(&domain_admin, &erin_s)), [outside]);
    assert_eq!(denied(manage(&domain_admin, &no_domain)), [outside]);
    let no_domain_admin = user("dora", Some("DomainAdmin"), None);
    assert_eq!(denied(manage(&no_domain_admin, &dave_s)), [outside]);

    let master = user("max", Some("MasterAdmin"), None);
    for any in [&carol_s, &dave_s, &erin_s, &no_domain] {
        manage(&master, any).unwrap();
    }

    for nobody in [
        user("carol", None, None),
        user("carol", Some("Guest"), None),
    ] {
        assert_eq!(
            denied(manage(&nobody, &carol_s)),
            ["Your account may not manage passkeys."]
        );
    }
    // The app's backend, and other actions, are not restricted.
    manage(&api_key(), &erin_s).unwrap();
    p.decide(&user("carol", None, None), Action::Authenticate, &carol_s)
        .unwrap();
}

#[test]
fn notices_of_the_deciding_policies_in_written_order_each_once() {
    let text = r#"
        @notice("welcome")
        permit (principal, action == Passkeyd::Action::"Register", resource);
        permit (principal, action == Passkeyd::Action::"Authenticate", resource);
        @notice("second")
        forbid (principal, action, resource) when { resource.credentialCount > 1 };
        @notice("first")
        forbid (principal, action, resource) when { resource.credentialCount > 0 };
        @notice("first")
        forbid (principal, action, resource) when { resource.credentialCount > 0 };
    "#;
    let p = policies(text);
    let with = |count: u32| Resource {
        credential_count: count,
        ..credential("gus", "example.com")
    };
    assert_eq!(
        p.decide(&api_key(), Action::Register, &with(0)).unwrap(),
        ["welcome"]
    );
    assert!(p
        .decide(&api_key(), Action::Authenticate, &with(0))
        .unwrap()
        .is_empty());
    assert_eq!(
        denied(p.decide(&api_key(), Action::Register, &with(2))),
        ["second", "first"]
    );
    // No permit matches: Cedar's default deny, decided by no policy, so no notice.
    assert!(denied(p.decide(&api_key(), Action::ManageCredential, &with(0))).is_empty());
}

#[test]
fn a_policy_that_fails_to_evaluate_denies() {
    // Strict validation cannot see an overflow coming: with one credential the forbid errors.
    // Cedar would skip it and allow; passkeyd denies, with its notice.
    let p = policies(
        r#"permit (principal, action, resource);
        @notice("overflow")
        forbid (principal, action, resource)
        when { resource.credentialCount + 9223372036854775807 < 0 };"#,
    );
    let with = |count: u32| Resource {
        credential_count: count,
        ..credential("hal", "example.com")
    };
    p.decide(&api_key(), Action::Register, &with(0)).unwrap();
    assert_eq!(
        denied(p.decide(&api_key(), Action::Register, &with(1))),
        ["overflow"]
    );
}

#[test]
fn the_aaguid_is_seen_only_when_a_certificate_vouches_for_it() {
    let p = policies(
        r#"permit (principal, action, resource);
        forbid (principal, action, resource) when { resource has aaguid };"#,
    );
    for (attestation_type, seen) in [
        ("basic", true),
        ("AttCA", true),
        ("anonca", true),
        ("self", false),
        ("none", false),
        ("", false),
    ] {
        let resource = Resource {
            attestation_type: Some(attestation_type.to_owned()),
            ..credential("ivy", "example.com")
        };
        let decided = p.decide(&api_key(), Action::Register, &resource);
        assert_eq!(decided.is_err(), seen, "{attestation_type}");
    }
    let unknown_type = Resource {
        attestation_type: None,
        ..credential("ivy", "example.com")
    };
    p.decide(&api_key(), Action::Register, &unknown_type)
        .unwrap();
}

#[test]
fn api_keys_are_told_apart_by_kind() {
    let p = policies(
        r#"permit (principal, action, resource);
        @notice("backend only")
        forbid (principal is Passkeyd::ApiKey, action, resource)
        when { principal.kind == "publishable" };"#,
    );
    let resource = credential("jo", "example.com");
    p.decide(&api_key(), Action::Register, &resource).unwrap();
    let publishable = Principal::ApiKey {
        prefix: "pk_BBBBBBBBBBBB".to_owned(),
    };
    assert_eq!(
        denied(p.decide(&publishable, Action::Register, &resource)),
        ["backend only"]
    );
}

#[test]
fn principals_from_actor_names_and_user_domains() {
    assert_eq!(
        Principal::from_actor("api_key:sk_AAAAAAAAAAAA"),
        Principal::ApiKey {
            prefix: "sk_AAAAAAAAAAAA".to_owned()
        }
    );
    assert_eq!(Principal::from_actor("user:u_1"), user("u_1", None, None));
    assert_eq!(
        user_domain("Alice@Example.COM"),
        Some("example.com".to_owned())
    );
    assert_eq!(
        user_domain("a@b@mail.example"),
        Some("mail.example".to_owned())
    );
    assert_eq!(user_domain("alice"), None);
    assert_eq!(user_domain("alice@"), None);
    assert!(is_attested("Basic") && is_attested("attca") && !is_attested("self"));
}

#[test]
fn the_token_context_lets_a_tenant_ask_for_a_fresh_passkey() {
    let policies = policies(FRESH_PASSKEY);
    let owner = Resource {
        user_id: "u1".to_owned(),
        ..Resource::default()
    };
    let with = |amr: &[&str], auth_age_secs: i64| Principal::User {
        id: "u1".to_owned(),
        role: None,
        domain: None,
        token: Some(TokenFacts {
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            auth_time: 1_750_000_000 - auth_age_secs,
            auth_age_secs,
            token_age_secs: auth_age_secs,
        }),
    };
    assert!(policies
        .decide(&with(&["passkey", "user"], 30), Action::EnrolMfa, &owner)
        .is_ok());
    let notice = ["Sign in with your passkey again (within two minutes) to add a second factor."];
    for principal in [
        with(&["passkey"], 121),
        with(&["backup_code"], 10),
        with(&[], 0),
        user("u1", None, None),
    ] {
        assert_eq!(
            denied(policies.decide(&principal, Action::EnrolMfa, &owner)),
            notice,
            "{principal:?}"
        );
    }
    // Other actions, and the app's backend, are not concerned.
    assert!(policies
        .decide(&with(&[], 0), Action::ManageCredential, &owner)
        .is_ok());
    assert!(policies
        .decide(&api_key(), Action::EnrolMfa, &owner)
        .is_ok());
}
