//! Backup codes: the second factor a user falls back on when their passkeys are out of reach.
//!
//! A user holds [`CODE_COUNT`] codes at a time, each single use. A code is 16 characters of
//! Crockford base32 (80 bits from the system CSPRNG), shown as `XXXX-XXXX-XXXX-XXXX` and
//! accepted in any case, with or without hyphens and spaces, with Crockford's `O`→`0` and
//! `I`/`L`→`1`.
//!
//! Only a keyed hash of each code is stored: HMAC under a key derived from the server's master
//! key, bound to the tenant and the user ([`hash`]). A database leak alone therefore cannot be
//! brute-forced offline, and a hash cannot be moved to another user. Verification compares the
//! presented code's hash with every unused one in constant time, then marks it used with a
//! conditional update, so a code succeeds once even under concurrent use.
//!
//! Wrong codes are throttled per user (NIST SP 800-63B 5.2.2): after [`FREE_FAILURES`] wrong
//! codes in a row (typos), each further one makes the next attempt wait [`throttle_delay`]:
//! one second, doubling up to fifteen minutes. The wait expires by itself: no lock that needs
//! an operator. Only a holder of
//! the user's token can present a code, so a stranger cannot spend this budget; failed passkey
//! ceremonies never count against it.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;
use crate::tenant::TenantId;
use crate::tokens::MasterKey;

/// How many codes a user gets at a time.
pub const CODE_COUNT: usize = 10;
/// Characters in a code, without the hyphens.
pub const CODE_LEN: usize = 16;
/// The longest input [`normalize`] looks at: a code with generous separators.
pub const MAX_INPUT_LEN: usize = 64;

/// Crockford's base32 alphabet: no `I`, `L`, `O` or `U`.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Wrong codes in a row that cost no wait: a typo, retyped at once, is not an attack.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait between two attempts of a user who keeps presenting wrong codes.
pub const MAX_THROTTLE_SECS: u64 = 15 * 60;

/// The MAC purpose of stored code hashes; a new scheme gets a new version.
const HASH_PURPOSE: &str = "passkeyd backup code v1";

/// A fresh set of [`CODE_COUNT`] codes, as shown to the user (`XXXX-XXXX-XXXX-XXXX`).
pub fn generate(rng: &dyn SecureRandom) -> Result<Vec<String>, aws_lc_rs::error::Unspecified> {
    (0..CODE_COUNT).map(|_| generate_one(rng)).collect()
}

fn generate_one(rng: &dyn SecureRandom) -> Result<String, aws_lc_rs::error::Unspecified> {
    // 10 bytes = 80 bits = 16 symbols of 5 bits.
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes)?;
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    let mut code = String::with_capacity(CODE_LEN + 3);
    for i in 0..CODE_LEN {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let shift = 5 * (CODE_LEN - 1 - i);
        let symbol = usize::try_from((bits >> shift) & 0x1f).unwrap_or(0);
        code.push(char::from(ALPHABET[symbol]));
    }
    Ok(code)
}

/// The canonical form of a presented code (16 upper-case alphabet characters), or `None` if it
/// cannot be a code. Hyphens and whitespace are ignored, case does not matter, and the letters
/// Crockford base32 reads as digits (`O`, `I`, `L`) are read so.
pub fn normalize(input: &str) -> Option<String> {
    if input.len() > MAX_INPUT_LEN {
        return None;
    }
    let mut code = String::with_capacity(CODE_LEN);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !u8::try_from(c).is_ok_and(|b| ALPHABET.contains(&b)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LEN).then_some(code)
}

/// The stored hash of a normalized code of `user` in `tenant`.
pub fn hash(master: &MasterKey, tenant: &str, user: &str, normalized: &str) -> [u8; 32] {
    let mut message = Vec::with_capacity(tenant.len() + user.len() + normalized.len() + 2);
    message.extend_from_slice(tenant.as_bytes());
    message.push(0);
    message.extend_from_slice(user.as_bytes());
    message.push(0);
    message.extend_from_slice(normalized.as_bytes());
    master.mac(HASH_PURPOSE, &message)
}

/// Whether `presented` is one of `stored`, comparing with every stored hash in constant time
/// (no early exit), so the timing tells nothing about how close a guess came.
pub fn matches_any(presented: &[u8; 32], stored: &[[u8; 32]]) -> bool {
    let found = stored
        .iter()
        .fold(Choice::from(0), |found, hash| found | hash.ct_eq(presented));
    found.into()
}

/// Serializes "issue a first set unless the user has one" on this node, so two enrolments
/// finishing at once do not both show codes of which only the later set works. Across nodes
/// the store offers no compare-and-set for it; the window is two enrolments of one user
/// finishing within milliseconds on different nodes.
static FIRST_SET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Replaces the user's codes with a fresh set (the old ones stop working) and returns the new
/// codes, to be shown once.
pub async fn replace(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<String>, ApiError> {
    let (codes, hashes) = fresh(state, tenant, user_id)?;
    state
        .store
        .replace_backup_codes(tenant, user_id, &hashes, state.clock.now().0)
        .await?;
    Ok(codes)
}

/// A fresh set of codes and their hashes.
fn fresh(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> Result<(Vec<String>, Vec<[u8; 32]>), ApiError> {
    let codes = generate(&SystemRandom::new()).map_err(ApiError::internal)?;
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .filter_map(|code| normalize(code))
        .map(|code| hash(&state.master_key, tenant.as_str(), user_id, &code))
        .collect();
    Ok((codes, hashes))
}

/// [`replace`], storing `event` (the change's audit event, with its webhook messages) in the
/// same unit of work.
pub async fn replace_recorded(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
    event: &crate::store::AuditEvent,
) -> Result<Vec<String>, ApiError> {
    let (codes, hashes) = fresh(state, tenant, user_id)?;
    state
        .store
        .replace_backup_codes_recorded(tenant, user_id, &hashes, state.clock.now().0, event)
        .await?;
    Ok(codes)
}

/// Gives the user a first set of codes if they hold no unused one: the new codes and how many
/// the user holds now. Empty codes when the user already had some.
pub async fn issue_first_set(
    state: &AppState,
    tenant: &TenantId,
    user_id: &str,
) -> Result<(Vec<String>, usize), ApiError> {
    let _serialized = FIRST_SET.lock().await;
    let held = state
        .store
        .unused_backup_codes(tenant, user_id)
        .await?
        .len();
    if held > 0 {
        return Ok((Vec::new(), held));
    }
    let codes = replace(state, tenant, user_id).await?;
    let held = codes.len();
    Ok((codes, held))
}

/// How long a user waits after `failures` consecutive wrong codes: nothing for the first
/// [`FREE_FAILURES`], then 1 s, doubling with each failure, at most [`MAX_THROTTLE_SECS`].
pub fn throttle_delay(failures: u32) -> u64 {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => 0,
        Some(doublings) => 1_u64
            .checked_shl(doublings)
            .map_or(MAX_THROTTLE_SECS, |d| d.min(MAX_THROTTLE_SECS)),
    }
}

/// The seconds `user` must still wait at `now` before presenting another code; 0 when free.
pub fn wait_secs(user: &User, now: i64) -> u64 {
    let Some(last) = user.last_failed_at else {
        return 0;
    };
    let free_at = last
        .saturating_add(i64::try_from(throttle_delay(user.failed_attempts)).unwrap_or(i64::MAX));
    u64::try_from(free_at.saturating_sub(now)).unwrap_or(0)
}

/// Checks a presented code and uses it up: `Ok` with how many unused codes remain, 401
/// `backup_code_invalid` for a wrong, malformed or already used code (which makes the user wait
/// longer before the next), or 429 `rate_limited` with the wait while the user must wait (the
/// code is then not even looked at).
pub async fn verify(
    state: &AppState,
    tenant: &TenantId,
    user: &User,
    presented: &str,
) -> Result<usize, ApiError> {
    let now = state.clock.now().0;
    let wait = wait_secs(user, now);
    if wait > 0 {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait,
        });
    }
    let accepted = match normalize(presented) {
        Some(code) => {
            let presented = hash(&state.master_key, tenant.as_str(), &user.id, &code);
            let unused = state.store.unused_backup_codes(tenant, &user.id).await?;
            // The conditional update decides between concurrent uses of one code.
            matches_any(&presented, &unused)
                && state
                    .store
                    .use_backup_code(tenant, &user.id, &presented, state.clock.now().0)
                    .await?
        }
        None => false,
    };
    if !accepted {
        if let Err(e) = state.store.record_failure(tenant, &user.id, now).await {
            tracing::warn!(error = %e, "cannot count a failed backup code");
        }
        return Err(ApiError::Token(
            "backup_code_invalid",
            "the backup code is wrong or already used",
        ));
    }
    Ok(state
        .store
        .unused_backup_codes(tenant, &user.id)
        .await?
        .len())
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_base64url("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap()
    }

    #[test]
    fn wrong_codes_wait_one_second_doubling_to_fifteen_minutes() {
        let delays: Vec<u64> = (0..17).map(throttle_delay).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
        );
        assert_eq!(throttle_delay(u32::MAX), MAX_THROTTLE_SECS);
        let user = |failures, last| User {
            id: "u".to_owned(),
            user_handle: vec![1],
            name: "u".to_owned(),
            display_name: "u".to_owned(),
            failed_attempts: failures,
            last_failed_at: last,
            created_at: 0,
        };
        assert_eq!(wait_secs(&user(0, None), 100), 0);
        assert_eq!(wait_secs(&user(3, Some(100)), 100), 0, "typos are free");
        assert_eq!(wait_secs(&user(8, Some(100)), 100), 16);
        assert_eq!(wait_secs(&user(8, Some(100)), 110), 6);
        assert_eq!(wait_secs(&user(8, Some(100)), 116), 0, "the wait expires");
        assert_eq!(wait_secs(&user(40, Some(100)), 100), 900);
    }

    #[test]
    fn codes_look_right_and_differ() {
        let codes = generate(&SystemRandom::new()).unwrap();
        assert_eq!(codes.len(), CODE_COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4, "{code}");
            assert!(groups.iter().all(|g| g.len() == 4));
            assert_eq!(normalize(code).unwrap(), code.replace('-', ""));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), CODE_COUNT);
    }

    #[test]
    fn every_symbol_is_used() {
        // 80 random bits per code: over a few hundred codes every symbol turns up.
        let rng = SystemRandom::new();
        let mut seen = [false; 32];
        for _ in 0..100 {
            for code in generate(&rng).unwrap() {
                for b in code.bytes().filter(|b| *b != b'-') {
                    let at = ALPHABET.iter().position(|a| *a == b).unwrap();
                    seen[at] = true;
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn normalize_is_forgiving_but_strict_about_content() {
        let canonical = "0123456789ABCDEF";
        for form in [
            "0123-4567-89AB-CDEF",
            "0123 4567 89ab cdef",
            "o123-4567-89ab-cdef",
            "  0123456789abcdef\n",
            "0-1-2-3-4-5-6-7-8-9-a-b-c-d-e-f",
        ] {
            assert_eq!(normalize(form).as_deref(), Some(canonical), "{form:?}");
        }
        assert_eq!(
            normalize("IL23-4567-89AB-CDEF").as_deref(),
            Some("1123456789ABCDEF")
        );
        for bad in [
            "",
            "0123-4567-89AB-CDE",
            "0123-4567-89AB-CDEF0",
            "0123-4567-89AB-CDEU",
            "0123-4567-89AB-CDE!",
            "0123-4567-89AB-CDÉF",
            &"-".repeat(MAX_INPUT_LEN + 1),
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_bound_to_tenant_user_and_key() {
        let key = master();
        let other_key =
            MasterKey::from_base64url("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let code = "0123456789ABCDEF";
        let h = hash(&key, "acme", "alice", code);
        assert_eq!(h, hash(&key, "acme", "alice", code));
        assert_ne!(h, hash(&key, "acme", "bob", code));
        assert_ne!(h, hash(&key, "other", "alice", code));
        assert_ne!(h, hash(&other_key, "acme", "alice", code));
        // The separators keep (tenant, user) pairs apart.
        assert_ne!(hash(&key, "a", "bc", code), hash(&key, "ab", "c", code));
        assert!(matches_any(&h, &[[0; 32], h, [1; 32]]));
        assert!(!matches_any(&h, &[[0; 32], [1; 32]]));
        assert!(!matches_any(&h, &[]));
    }
}
