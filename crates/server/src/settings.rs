//! A tenant's settings: the typed view of the `settings` JSON object stored with the tenant.
//!
//! Every field has a default, so an empty object is a working tenant, and unknown fields are
//! refused when settings are written, so a typo is an error rather than a silently ignored
//! policy.

use passkeyd_webauthn::json::{
    AttestationConveyancePreference, AuthenticatorAttachment, PublicKeyCredentialHint,
    ResidentKeyRequirement, UserVerificationRequirement,
};
use passkeyd_webauthn::CoseAlgorithm;
use serde::{Deserialize, Serialize};

use crate::tokens::SigningAlgorithm;

/// The shortest and longest ceremony timeouts a tenant may set, in milliseconds.
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u32> = 30_000..=600_000;
/// The shortest and longest result-token lifetimes, in seconds.
pub const TOKEN_TTL_RANGE_SECS: std::ops::RangeInclusive<u32> = 30..=3_600;

/// How many credentials a user may hold unless the tenant says otherwise.
pub const DEFAULT_MAX_CREDENTIALS_PER_USER: u32 = 50;
/// The range a tenant may set `max_credentials_per_user` in.
pub const MAX_CREDENTIALS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000;

/// The caps a tenant may give user tokens (`user_token_max_ttl_secs`), in seconds: a minute to
/// a day.
pub const USER_TOKEN_MAX_TTL_RANGE_SECS: std::ops::RangeInclusive<u32> = 60..=86_400;

/// The step-up windows a tenant may set (`step_up_max_age_secs`), in seconds: half a minute to
/// an hour.
pub const STEP_UP_MAX_AGE_RANGE_SECS: std::ops::RangeInclusive<u32> = 30..=3_600;

/// The compatibility dialects a tenant can turn on in `compat`.
pub const COMPAT_DIALECTS: &[&str] = &["streambird", "mailcheap", "flashback", "jitsudo"];

/// The Jitsudo MFA methods a tenant can enable in `jitsudo_methods`: a passkey (a discoverable
/// credential) and a FIDO security key (a cross-platform authenticator).
pub const JITSUDO_METHODS: &[&str] = &["webauthn_passkey", "webauthn_fido"];

/// A tenant's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// User verification asked for in every ceremony. `required` is enforced at finish.
    pub user_verification: UserVerificationRequirement,
    /// Whether registrations ask for a discoverable credential (a passkey).
    pub resident_key: ResidentKeyRequirement,
    /// Restrict registrations to platform or roaming authenticators.
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// The attestation asked for at registration.
    pub attestation: AttestationConveyancePreference,
    /// Which attestations are accepted.
    pub attestation_policy: AttestationRules,
    /// Hints for the browser's UI.
    pub hints: Vec<PublicKeyCredentialHint>,
    /// COSE algorithm identifiers offered and accepted, in order of preference.
    pub algorithms: Vec<i64>,
    /// Ceremony timeout in milliseconds; the session expires with it.
    pub timeout_ms: u32,
    /// Whether a begin request may change attachment, resident key and hints, and strengthen
    /// user verification and attestation. Nothing can weaken the tenant's settings.
    pub allow_request_overrides: bool,
    /// What a signature counter that did not increase means.
    pub counter_policy: CounterSetting,
    /// Whether the publishable key alone may register new users (browser-direct, no
    /// registration token).
    pub open_signup: bool,
    /// How result tokens are signed.
    pub token_algorithm: SigningAlgorithm,
    /// How long a result token is valid, in seconds.
    pub token_ttl_secs: u32,
    /// No longer used, and accepted only so that settings written by earlier versions still
    /// load. Failed passkey ceremonies never lock a user (a stranger could lock anyone out);
    /// failures are throttled per client address (`[rate_limits]`), and wrong backup codes
    /// per user with growing delays that expire (docs/security.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failed_attempts: Option<u32>,
    /// The most credentials one user may hold; a registration past it answers 409
    /// `credential_limit`. It bounds what a sign-in begin lists (`allowCredentials`).
    pub max_credentials_per_user: u32,
    /// The publishable key the demo page uses (public by design), if the demo is on.
    pub demo_publishable_key: Option<String>,
    /// Whether every user must keep a second factor: a user cannot delete their last
    /// credential through the user-facing API (`DELETE /me/credentials/{id}` answers 409
    /// `last_credential`). The secret-key API can still delete it (the app's backend decides).
    pub require_mfa: bool,
    /// Whether the FIDO Alliance conformance-tool API (`/attestation/...`, `/assertion/...`)
    /// answers. It takes no key, so only the `default` tenant can turn it on, and only for
    /// certification runs: never leave it on in production.
    pub fido_conformance: bool,
    /// The compatibility dialects this tenant answers (DESIGN.md §3); known: `streambird`,
    /// `mailcheap`, `flashback`, `jitsudo`.
    pub compat: Vec<String>,
    /// The Jitsudo MFA methods this tenant enables ([`JITSUDO_METHODS`], both by default); the
    /// others answer 501 `not_implemented`.
    pub jitsudo_methods: Vec<String>,
    // The token hardening settings (docs/security.md), kept together.
    /// The longest lifetime of a user token (`POST /users/{userId}/tokens`), in seconds
    /// ([`USER_TOKEN_MAX_TTL_RANGE_SECS`], default 3600): a longer `ttlSeconds` is refused (400).
    /// With `token_ttl_secs` it also bounds every token passkeyd accepts (a longer-lived one is
    /// refused, whoever signed it) and how long a retired signing key keeps verifying.
    pub user_token_max_ttl_secs: u32,
    /// How recent the proof of a factor must be for a change of a user's factors (adding an
    /// authenticator, deleting one, new backup codes), in seconds
    /// ([`STEP_UP_MAX_AGE_RANGE_SECS`], default 300): once the user has a passkey or backup
    /// codes, such a change needs a token whose `amr` shows a passkey or a backup code with
    /// `auth_time` at most this old, else 403 `step_up_required`.
    pub step_up_max_age_secs: u32,
    // Related origins and app association (`crate::origins`, `/.well-known/...`), kept together.
    /// Web origins of other sites that may use this tenant's RP ID (WebAuthn L3 §5.11 Related
    /// Origin Requests), served at `https://{rpId}/.well-known/webauthn` and accepted as
    /// ceremony origins: `https://host[:port]` (`http` only for localhost), at most 5 distinct
    /// registrable labels ([`crate::origins::MAX_LABELS`]).
    pub related_origins: Vec<String>,
    /// Android apps sharing the RP ID's passkeys, served at `/.well-known/assetlinks.json`;
    /// each signing certificate's `android:apk-key-hash:` origin is accepted.
    pub android_apps: Vec<crate::origins::AndroidApp>,
    /// Apple apps sharing the RP ID's passkeys (`TEAMID.bundle.id`), served at
    /// `/.well-known/apple-app-site-association` (`webcredentials`).
    pub apple_app_ids: Vec<String>,
    // Webhooks (service/webhooks/settings.rs has the types and the rules).
    /// The endpoints passkey events are posted to, signed (Standard Webhooks); their secrets
    /// sealed with the master key. Set with `passkeyd tenant update --set webhooks=[...]` or
    /// `PUT /admin/tenants/{id}/webhooks`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<crate::service::webhooks::WebhookEndpoint>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            user_verification: UserVerificationRequirement::Preferred,
            resident_key: ResidentKeyRequirement::Preferred,
            authenticator_attachment: None,
            attestation: AttestationConveyancePreference::None,
            attestation_policy: AttestationRules::default(),
            hints: Vec::new(),
            algorithms: CoseAlgorithm::DEFAULT.iter().map(|a| a.to_i64()).collect(),
            timeout_ms: passkeyd_webauthn::json::DEFAULT_TIMEOUT_MS,
            allow_request_overrides: true,
            counter_policy: CounterSetting::Reject,
            open_signup: false,
            token_algorithm: SigningAlgorithm::Es256,
            token_ttl_secs: 300,
            max_failed_attempts: None,
            max_credentials_per_user: DEFAULT_MAX_CREDENTIALS_PER_USER,
            demo_publishable_key: None,
            require_mfa: false,
            fido_conformance: false,
            compat: Vec::new(),
            jitsudo_methods: JITSUDO_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            user_token_max_ttl_secs: 3_600,
            step_up_max_age_secs: 300,
            related_origins: Vec::new(),
            android_apps: Vec::new(),
            apple_app_ids: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}

/// Which attestations a tenant accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationRules {
    /// Accept registrations without attestation (`none`): most passkeys.
    pub allow_none: bool,
    /// Accept self attestation (the credential signs its own statement).
    pub allow_self: bool,
    /// Require a certificate chain to a trusted root (bundled roots and the MDS).
    pub require_trusted: bool,
    /// Refuse registrations (403 `policy_denied`, notice `mds_stale: ...`) while the FIDO MDS
    /// BLOB is missing or past its `nextUpdate` with no fresh one stored: for tenants whose
    /// trust decisions rely on the MDS (revoked models, attestation roots). Off by default:
    /// a stale BLOB is then still used, with a warning.
    pub require_fresh_mds: bool,
}

impl Default for AttestationRules {
    fn default() -> Self {
        Self {
            allow_none: true,
            allow_self: true,
            require_trusted: false,
            require_fresh_mds: false,
        }
    }
}

/// What a signature counter that did not increase means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterSetting {
    /// Refuse the assertion (`counter_regression`).
    #[default]
    Reject,
    /// Accept it, and flag it in the answer and the audit trail.
    Flag,
}

/// Why settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not a valid settings object.
    #[error("invalid tenant settings: {0}")]
    Parse(#[from] serde_json::Error),
    /// A value out of range.
    #[error("invalid tenant settings: {0}")]
    Invalid(&'static str),
}

impl TenantSettings {
    /// Reads and checks settings from the stored object.
    pub fn from_map(
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, SettingsError> {
        let settings: Self = serde_json::from_value(serde_json::Value::Object(map.clone()))?;
        settings.check()?;
        Ok(settings)
    }

    /// The settings as the object to store.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            // A struct of plain fields always serializes to an object.
            _ => serde_json::Map::new(),
        }
    }

    /// Range checks serde cannot express.
    pub fn check(&self) -> Result<(), SettingsError> {
        if !TIMEOUT_RANGE_MS.contains(&self.timeout_ms) {
            return Err(SettingsError::Invalid("timeout_ms must be 30000 to 600000"));
        }
        if !TOKEN_TTL_RANGE_SECS.contains(&self.token_ttl_secs) {
            return Err(SettingsError::Invalid("token_ttl_secs must be 30 to 3600"));
        }
        if !USER_TOKEN_MAX_TTL_RANGE_SECS.contains(&self.user_token_max_ttl_secs) {
            return Err(SettingsError::Invalid(
                "user_token_max_ttl_secs must be 60 to 86400",
            ));
        }
        if !STEP_UP_MAX_AGE_RANGE_SECS.contains(&self.step_up_max_age_secs) {
            return Err(SettingsError::Invalid(
                "step_up_max_age_secs must be 30 to 3600",
            ));
        }
        if !MAX_CREDENTIALS_RANGE.contains(&self.max_credentials_per_user) {
            return Err(SettingsError::Invalid(
                "max_credentials_per_user must be 1 to 1000",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(SettingsError::Invalid("algorithms must not be empty"));
        }
        if self
            .algorithms
            .iter()
            .any(|alg| CoseAlgorithm::from_i64(*alg).is_none())
        {
            return Err(SettingsError::Invalid(
                "algorithms lists an unsupported COSE algorithm",
            ));
        }
        if self
            .compat
            .iter()
            .any(|name| !COMPAT_DIALECTS.contains(&name.as_str()))
        {
            return Err(SettingsError::Invalid(
                "compat lists an unknown dialect (known: streambird, mailcheap, flashback, jitsudo)",
            ));
        }
        if self
            .jitsudo_methods
            .iter()
            .any(|method| !JITSUDO_METHODS.contains(&method.as_str()))
        {
            return Err(SettingsError::Invalid(
                "jitsudo_methods lists an unknown method (known: webauthn_passkey, webauthn_fido)",
            ));
        }
        crate::origins::check_settings(self).map_err(SettingsError::Invalid)?;
        crate::service::webhooks::settings::check(&self.webhooks)
            .map_err(SettingsError::Invalid)?;
        let rules = self.attestation_policy;
        if !rules.allow_none && self.attestation == AttestationConveyancePreference::None {
            return Err(SettingsError::Invalid(
                "attestation_policy.allow_none is false but attestation asks for none",
            ));
        }
        Ok(())
    }

    /// The algorithms, as the verifier takes them.
    pub fn cose_algorithms(&self) -> Vec<CoseAlgorithm> {
        self.algorithms
            .iter()
            .filter_map(|alg| CoseAlgorithm::from_i64(*alg))
            .collect()
    }

    /// The sign-count rule for the verifier.
    pub fn counter_policy(&self) -> passkeyd_webauthn::CounterPolicy {
        match self.counter_policy {
            CounterSetting::Reject => passkeyd_webauthn::CounterPolicy::Reject,
            CounterSetting::Flag => passkeyd_webauthn::CounterPolicy::Flag,
        }
    }
}

/// The stronger of two user-verification requirements.
pub fn stronger_uv(
    a: UserVerificationRequirement,
    b: UserVerificationRequirement,
) -> UserVerificationRequirement {
    use UserVerificationRequirement::{Discouraged, Preferred, Required};
    let rank = |uv| match uv {
        Discouraged => 0,
        Preferred => 1,
        Required => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The stronger of two attestation preferences (none < indirect < direct < enterprise).
pub fn stronger_attestation(
    a: AttestationConveyancePreference,
    b: AttestationConveyancePreference,
) -> AttestationConveyancePreference {
    use AttestationConveyancePreference::{Direct, Enterprise, Indirect, None};
    let rank = |pref| match pref {
        None => 0,
        Indirect => 1,
        Direct => 2,
        Enterprise => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn empty_object_is_the_defaults() {
        let settings = TenantSettings::from_map(&serde_json::Map::new()).unwrap();
        assert_eq!(settings, TenantSettings::default());
        assert_eq!(
            TenantSettings::from_map(&settings.to_map()).unwrap(),
            settings
        );
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        for bad in [
            json!({"user_verificaton": "required"}),
            json!({"user_verification": "always"}),
            json!({"timeout_ms": 1000}),
            json!({"token_ttl_secs": 86400}),
            json!({"algorithms": []}),
            json!({"algorithms": [-9999]}),
            json!({"max_credentials_per_user": 0}),
            json!({"max_credentials_per_user": 100000}),
            json!({"attestation_policy": {"allow_none": false}}),
            json!({"compat": ["stytch"]}),
            json!({"jitsudo_methods": ["totp"]}),
            json!({"user_token_max_ttl_secs": 59}),
            json!({"user_token_max_ttl_secs": 86_401}),
            json!({"step_up_max_age_secs": 29}),
            json!({"step_up_max_age_secs": 3_601}),
            json!({"related_origins": ["http://example.com"]}),
            json!({"android_apps": [{"package_name": "com.example", "sha256_cert_fingerprints": ["AB"]}]}),
            json!({"apple_app_ids": ["com.example.app"]}),
        ] {
            assert!(
                TenantSettings::from_map(&map(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_of_earlier_versions_still_load() {
        let old = TenantSettings::from_map(&map(json!({"max_failed_attempts": 100}))).unwrap();
        assert_eq!(old.max_failed_attempts, Some(100));
        assert!(!TenantSettings::default()
            .to_map()
            .contains_key("max_failed_attempts"));
    }

    #[test]
    fn overrides_only_strengthen() {
        use AttestationConveyancePreference as A;
        use UserVerificationRequirement as U;
        assert_eq!(stronger_uv(U::Required, U::Discouraged), U::Required);
        assert_eq!(stronger_uv(U::Preferred, U::Required), U::Required);
        assert_eq!(stronger_uv(U::Discouraged, U::Preferred), U::Preferred);
        assert_eq!(stronger_attestation(A::Direct, A::None), A::Direct);
        assert_eq!(stronger_attestation(A::None, A::Indirect), A::Indirect);
        assert_eq!(
            stronger_attestation(A::Enterprise, A::Direct),
            A::Enterprise
        );
    }
}
