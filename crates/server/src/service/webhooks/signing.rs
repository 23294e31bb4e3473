//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature scheme"):
//! `webhook-signature: v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, with
//! the secret written `whsec_<base64>`; HMAC from aws-lc-rs.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SecureRandom;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// How many random bytes a generated secret has.
const SECRET_LEN: usize = 32;

/// The bytes of a secret `whsec_<base64>` (24 to 64 of them, as the scheme recommends);
/// `None` when it is not of that form.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
    (24..=64).contains(&bytes.len()).then_some(bytes)
}

/// A new random secret, `whsec_` and the base64 of 32 bytes.
pub fn generate_secret(rng: &dyn SecureRandom) -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut bytes = [0u8; SECRET_LEN];
    rng.fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` header value for message `id` sent at `timestamp` (Unix seconds)
/// with `body`, signed with the secret's bytes.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;

    #[test]
    fn the_reference_example_signs_as_published() {
        // The example of the Standard Webhooks reference libraries' tests.
        let secret = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes() {
        let generated = generate_secret(&SystemRandom::new()).unwrap();
        assert_eq!(decode_secret(&generated).unwrap().len(), 32);
        assert!(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(decode_secret("whsec_c2hvcnQ=").is_none());
        assert!(decode_secret("whsec_not base64!").is_none());
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert!(decode_secret(&long).is_none());
    }
}
