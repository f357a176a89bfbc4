//! Verifying `Stripe-Signature` the way Stripe documents it: `t=<unix time>` and one or
//! more `v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; any `v1` matching any of the endpoint's
//! secrets (several while one is being rolled) passes, if `t` is within the tolerance.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signed time may be from now, in seconds (Stripe's default).
pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header has no `t=` timestamp or no `v1=` signature")]
    Malformed,
    #[error("the signature's timestamp is more than {TOLERANCE_S} seconds from now")]
    Stale,
    #[error("no signature matches the payload")]
    Mismatch,
}

/// Checks `header` for `payload` against `secrets` at unix time `now`.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[String],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    // `verify_slice` compares in constant time.
    let matches = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| {
            mac(secret, timestamp, payload).is_some_and(|mac| mac.verify_slice(signature).is_ok())
        })
    });
    if matches { Ok(()) } else { Err(SignatureError::Mismatch) }
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp`; for
/// tests and the webhook examples in the documentation.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let signature = mac(secret, timestamp, payload).map(|mac| hex::encode(mac.finalize().into_bytes()));
    format!("t={timestamp},v1={}", signature.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_from_any_secret_in_any_v1_passes_within_the_tolerance() {
        let payload = br#"{"id":"evt_1"}"#;
        let header = sign(payload, SECRET, 1_000);
        let secrets = ["whsec_old".to_owned(), SECRET.to_owned()];
        assert_eq!(verify(Some(&header), payload, &secrets, 1_100), Ok(()));
        let several =
            format!("t=1000,v1={},{}", "00".repeat(32), header.split(',').nth(1).unwrap_or_default());
        assert_eq!(verify(Some(&several), payload, &secrets, 1_000), Ok(()));
    }

    #[test]
    fn tampered_stale_and_malformed_signatures_are_refused() {
        let payload = br#"{"id":"evt_1"}"#;
        let secrets = [SECRET.to_owned()];
        let header = sign(payload, SECRET, 1_000);
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, &secrets, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(Some(&header), payload, &secrets, 1_301), Err(SignatureError::Stale));
        assert_eq!(
            verify(Some(&header), payload, &["whsec_other".to_owned()], 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(Some("v1=abcd"), payload, &secrets, 1_000), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("t=1000"), payload, &secrets, 1_000), Err(SignatureError::Malformed));
        assert_eq!(verify(None, payload, &secrets, 1_000), Err(SignatureError::Missing));
    }
}
