//! Publisher signatures, compatible with `cosign sign-blob --key` and with
//! `openssl dgst -sha256 -sign key.pem FILE | base64 -w0`: ECDSA P-256 over SHA-256 of the
//! exact bundle bytes, ASN.1 DER, base64. Keys are PEM: PKCS#8 `PRIVATE KEY` for signing
//! (what `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` makes) and
//! SubjectPublicKeyInfo `PUBLIC KEY` for verifying. The cryptography is the `sigstore`
//! crate's, so keyless bundles (Fulcio + Rekor) can follow on the same types.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use caravan_core::{ErrorKind, Problematic};
use sha2::Digest;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme, signing_key::SigStoreKeyPair};

const SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the private key is not a PKCS#8 PEM ECDSA P-256 key: {0}")]
    InvalidPrivateKey(String),
    #[error("the public key is not a PEM ECDSA P-256 public key: {0}")]
    InvalidPublicKey(String),
    #[error("the signature is not valid base64")]
    MalformedSignature,
    #[error("the signature does not match the bundle and the key")]
    Mismatch,
    #[error("could not create or use a key: {0}")]
    Crypto(String),
}

impl Problematic for SigningError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Crypto(_) => ErrorKind::Internal,
            _ => ErrorKind::Unprocessable,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::InvalidPrivateKey(_) => "invalid-private-key",
            Self::InvalidPublicKey(_) => "invalid-public-key",
            Self::MalformedSignature => "malformed-signature",
            Self::Mismatch => "signature-mismatch",
            Self::Crypto(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidPrivateKey(_) => "Invalid private key",
            Self::InvalidPublicKey(_) => "Invalid public key",
            Self::MalformedSignature => "Malformed signature",
            Self::Mismatch => "Signature does not verify",
            Self::Crypto(_) => "Internal error",
        }
    }
}

/// A PKCS#8 PEM private key. `Debug` shows nothing of it.
pub struct PrivateKeyPem(pub String);

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem(..)")
    }
}

/// A new key pair: (PKCS#8 private key PEM, public key PEM).
pub fn generate_key_pair() -> Result<(PrivateKeyPem, String), SigningError> {
    let signer = SCHEME.create_signer().map_err(|error| SigningError::Crypto(error.to_string()))?;
    let pair = signer.to_sigstore_keypair().map_err(|error| SigningError::Crypto(error.to_string()))?;
    let private = pair.private_key_to_pem().map_err(|error| SigningError::Crypto(error.to_string()))?;
    let public = pair.public_key_to_pem().map_err(|error| SigningError::Crypto(error.to_string()))?;
    Ok((PrivateKeyPem(private.to_string()), public))
}

/// Signs `bytes` with a PKCS#8 PEM private key; returns the base64 signature.
pub fn sign(private_key_pem: &str, bytes: &[u8]) -> Result<String, SigningError> {
    let pair = SigStoreKeyPair::from_pem(private_key_pem.as_bytes())
        .map_err(|error| SigningError::InvalidPrivateKey(error.to_string()))?;
    let signer = pair
        .to_sigstore_signer(&SCHEME)
        .map_err(|error| SigningError::InvalidPrivateKey(error.to_string()))?;
    let signature = signer.sign(bytes).map_err(|error| SigningError::Crypto(error.to_string()))?;
    Ok(STANDARD.encode(signature))
}

/// A publisher's public key, parsed once and used for many verifications.
#[derive(Debug)]
pub struct PublicKey {
    key: CosignVerificationKey,
    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: the same key always has the same
    /// fingerprint, however its PEM is wrapped.
    fingerprint: String,
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<Self, SigningError> {
        let key = CosignVerificationKey::try_from_pem(pem.as_bytes())
            .map_err(|error| SigningError::InvalidPublicKey(error.to_string()))?;
        if !matches!(key, CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_)) {
            return Err(SigningError::InvalidPublicKey("only ECDSA P-256 keys are accepted".to_owned()));
        }
        let der = pem_body(pem).ok_or_else(|| SigningError::InvalidPublicKey("no PEM body".to_owned()))?;
        let fingerprint = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&der)));
        Ok(Self { key, fingerprint })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Checks a base64 signature (surrounding whitespace ignored) over `bytes`.
    pub fn verify(&self, signature_base64: &str, bytes: &[u8]) -> Result<(), SigningError> {
        let trimmed = signature_base64.trim();
        STANDARD.decode(trimmed).map_err(|_| SigningError::MalformedSignature)?;
        self.key
            .verify_signature(Signature::Base64Encoded(trimmed.as_bytes()), bytes)
            .map_err(|_| SigningError::Mismatch)
    }
}

/// The base64 body of a PEM block, decoded.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String =
        pem.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with("-----")).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_signature_verifies_only_for_its_bytes_and_its_key() {
        let (private, public) = generate_key_pair().expect("key pair");
        let (_, other_public) = generate_key_pair().expect("key pair");
        let bundle = b"capsule bytes";

        let signature = sign(&private.0, bundle).expect("sign");
        let key = PublicKey::from_pem(&public).expect("public key");
        let other = PublicKey::from_pem(&other_public).expect("public key");

        assert!(key.verify(&signature, bundle).is_ok());
        assert!(matches!(key.verify(&signature, b"capsule bytez"), Err(SigningError::Mismatch)));
        assert!(matches!(other.verify(&signature, bundle), Err(SigningError::Mismatch)));
        assert!(matches!(key.verify("not base64!", bundle), Err(SigningError::MalformedSignature)));
        assert!(!format!("{private:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn garbage_keys_are_refused() {
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(SigningError::InvalidPublicKey(_))
        ));
        assert!(matches!(sign("not a key", b"x"), Err(SigningError::InvalidPrivateKey(_))));
    }

    /// Interop with the openssl command line, both ways.
    #[test]
    fn openssl_signatures_verify_and_ours_verify_in_openssl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let output =
                Command::new("openssl").args(args).current_dir(dir.path()).output().expect("openssl runs");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        };
        std::fs::write(path("bundle"), b"the exact bundle bytes").expect("write");
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"]);
        openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"]);
        let der = openssl(&["dgst", "-sha256", "-sign", "key.pem", "bundle"]);
        let private = std::fs::read_to_string(path("key.pem")).expect("read");
        let public =
            PublicKey::from_pem(&std::fs::read_to_string(path("key.pub")).expect("read")).expect("public");

        assert!(
            public.verify(&STANDARD.encode(&der), b"the exact bundle bytes").is_ok(),
            "openssl → caravan"
        );

        let ours = STANDARD.decode(sign(&private, b"the exact bundle bytes").expect("sign")).expect("base64");
        std::fs::write(path("bundle.sig"), ours).expect("write");
        let verified =
            openssl(&["dgst", "-sha256", "-verify", "key.pub", "-signature", "bundle.sig", "bundle"]);
        assert!(String::from_utf8_lossy(&verified).contains("Verified OK"), "caravan → openssl");
    }
}
