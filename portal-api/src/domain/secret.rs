//! API key secrets: `cvn_live_<43 base62 chars>` (256 bits of randomness), shown once.
//! Only the SHA-256 of a secret is stored, with a visible prefix for lookup and display.

use caravan_core::AuthError;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// 43 base62 characters carry 43 × log2(62) ≈ 256 bits.
const RANDOM_CHARS: usize = 43;
/// Random characters kept in the visible prefix: enough to tell keys apart in a list.
const VISIBLE_CHARS: usize = 8;

/// `live` keys act on real data and money; `test` keys are for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// A newly made secret. Deliberately not `Debug`, `Display` or `Serialize`: it leaves the
/// process only through [`ApiKeySecret::reveal`] in the one response that creates it.
pub struct ApiKeySecret(String);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeySecret(..)")
    }
}

impl ApiKeySecret {
    pub fn generate(environment: Environment) -> Self {
        let random: String =
            rand::rng().sample_iter(&Alphanumeric).take(RANDOM_CHARS).map(char::from).collect();
        Self(format!("cvn_{}_{random}", environment.as_str()))
    }

    /// Accepts an operator-chosen secret (`CARAVAN_BOOTSTRAP_KEY`) of the same form.
    pub fn from_chosen(text: &str) -> Result<Self, AuthError> {
        PresentedKey::parse(text).map(|presented| Self(presented.text.to_owned()))
    }

    pub fn prefix(&self) -> String {
        visible_prefix(&self.0)
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }

    /// The secret itself, for the single response that hands it to its owner.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// A key as a client sent it, checked for form only.
#[derive(Clone, Copy)]
pub struct PresentedKey<'a> {
    text: &'a str,
}

impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedKey({}…)", self.prefix())
    }
}

impl<'a> PresentedKey<'a> {
    pub fn parse(text: &'a str) -> Result<Self, AuthError> {
        let random = text
            .strip_prefix("cvn_live_")
            .or_else(|| text.strip_prefix("cvn_test_"))
            .ok_or(AuthError::MalformedKey)?;
        if random.len() != RANDOM_CHARS || !random.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(AuthError::MalformedKey);
        }
        Ok(Self { text })
    }

    pub fn prefix(&self) -> String {
        visible_prefix(self.text)
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.text)
    }
}

fn visible_prefix(secret: &str) -> String {
    // `cvn_live_` is 9 bytes, all ASCII; the secret is ASCII by construction.
    secret.chars().take(9 + VISIBLE_CHARS).collect()
}

/// SHA-256 of a secret, hex-encoded as stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Compares with a stored hex hash in constant time.
    pub fn matches_stored(&self, stored_hex: &str) -> bool {
        let mut stored = [0_u8; 32];
        if hex::decode_to_slice(stored_hex, &mut stored).is_err() {
            return false;
        }
        self.0.ct_eq(&stored).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_match_their_hash() {
        let secret = ApiKeySecret::generate(Environment::Test);
        let presented = PresentedKey::parse(secret.reveal()).expect("well-formed");
        assert!(secret.reveal().starts_with("cvn_test_"));
        assert_eq!(secret.reveal().len(), 9 + 43);
        assert!(presented.hash().matches_stored(&secret.hash().to_hex()));
        assert_eq!(presented.prefix(), secret.prefix());
        assert_eq!(secret.prefix().len(), 17);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for text in [
            "",
            "cvn_live_",
            "sk_live_abc",
            "cvn_prod_0123456789012345678901234567890123456789012",
            "cvn_live_!!",
        ] {
            assert!(PresentedKey::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = ApiKeySecret::generate(Environment::Live);
        assert!(!format!("{secret:?}").contains(&secret.reveal()[9..]));
        let presented = PresentedKey::parse(secret.reveal()).expect("well-formed");
        assert!(!format!("{presented:?}").contains(&secret.reveal()[20..]));
    }

    #[test]
    fn a_different_secret_does_not_match() {
        let one = ApiKeySecret::generate(Environment::Live);
        let other = ApiKeySecret::generate(Environment::Live);
        assert!(
            !PresentedKey::parse(other.reveal()).expect("ok").hash().matches_stored(&one.hash().to_hex())
        );
        assert!(!one.hash().matches_stored("not hex"));
    }
}
