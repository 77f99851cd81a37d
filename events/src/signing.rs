//! Batch signatures with the operator's Ethereum key.
//!
//! The emitter signs every message: the digest is Keccak-256 over a domain
//! tag and, length-prefixed, the schema name, schema version, message key
//! (the orchestrator) and the Arrow IPC bytes. The 65-byte recoverable
//! secp256k1 signature (`r ‖ s ‖ v`, hex) and the signer's address travel in
//! the headers [`HEADER_SIGNATURE`] and [`HEADER_SIGNER`]. The pipeline
//! recovers the address from the signature, so a tampered value, key or
//! schema header recovers a different address and fails.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Keccak256};

use crate::OrchestratorAddress;

/// Header holding the signature, 130 hex digits (`r ‖ s ‖ v`).
pub const HEADER_SIGNATURE: &str = "naap-signature";
/// Header holding the signer's address (`0x…`, lowercase).
pub const HEADER_SIGNER: &str = "naap-signer";

const DOMAIN: &[u8] = b"naap-batch-signature-v1";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the message is not signed")]
    Unsigned,
    #[error("malformed signature header: {detail}")]
    Malformed { detail: String },
    #[error("signature does not match the message (recovers {recovered}, header says {claimed})")]
    BadSignature { recovered: String, claimed: String },
    #[error("signed by {signer}, which is neither orchestrator {orchestrator} nor an operating address bound to it")]
    SignerMismatch { signer: String, orchestrator: String },
}

impl SignatureError {
    /// Stable reason code for counters and the quarantine table.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::Malformed { .. } | SignatureError::BadSignature { .. } => "bad_signature",
            SignatureError::SignerMismatch { .. } => "signer_mismatch",
        }
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not 32 bytes of hex: {0}")]
    Hex(String),
    #[error("not a valid secp256k1 private key")]
    Invalid,
}

/// The digest a signature covers.
pub fn digest(schema: &str, version: &str, key: &str, value: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(DOMAIN);
    for part in [schema.as_bytes(), version.as_bytes(), key.as_bytes(), value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The Ethereum address of a public key: the last 20 bytes of the
/// Keccak-256 of its uncompressed point.
pub fn address_of(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

/// An operator's signing key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("Signer").field("address", &self.address).finish()
    }
}

impl Signer {
    /// From 32 bytes of hex, with or without `0x`.
    pub fn from_hex(text: &str) -> Result<Signer, KeyError> {
        let bytes = hex::decode(text.trim().trim_start_matches("0x")).map_err(|e| KeyError::Hex(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// From the 32 raw bytes of a private key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signer, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::Hex(format!("{} bytes", bytes.len())));
        }
        let key = SigningKey::from_slice(bytes).map_err(|_| KeyError::Invalid)?;
        let address = address_of(key.verifying_key());
        Ok(Signer { key, address })
    }

    /// The signer's address (`0x…`, lowercase).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Signs a message; returns the signature header value.
    pub fn sign(&self, schema: &str, version: &str, key: &str, value: &[u8]) -> String {
        let digest = digest(schema, version, key, value);
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(&digest)
            .expect("signing a 32-byte prehash cannot fail");
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(recovery.to_byte());
        hex::encode(bytes)
    }
}

/// Recovers the address that signed a message.
pub fn recover(
    signature_hex: &str,
    schema: &str,
    version: &str,
    key: &str,
    value: &[u8],
) -> Result<String, SignatureError> {
    let malformed = |detail: String| SignatureError::Malformed { detail };
    let bytes = hex::decode(signature_hex.trim().trim_start_matches("0x")).map_err(|e| malformed(e.to_string()))?;
    if bytes.len() != 65 {
        return Err(malformed(format!("{} bytes, not 65", bytes.len())));
    }
    let signature = Signature::from_slice(&bytes[..64]).map_err(|e| malformed(e.to_string()))?;
    let recovery = RecoveryId::from_byte(bytes[64] % 27).ok_or_else(|| malformed("bad recovery id".into()))?;
    let digest = digest(schema, version, key, value);
    let key =
        VerifyingKey::recover_from_prehash(&digest, &signature, recovery).map_err(|e| malformed(e.to_string()))?;
    Ok(address_of(&key))
}

/// Checks a message's signature headers: the signature must recover the
/// claimed signer, and the signer must be the orchestrator the message is
/// keyed by or an operating address `bound` to it. Returns the signer.
pub fn verify(
    signature: Option<&str>,
    signer: Option<&str>,
    schema: &str,
    version: &str,
    key: &str,
    value: &[u8],
    bound: impl Fn(&str, &str) -> bool,
) -> Result<String, SignatureError> {
    let (Some(signature), Some(claimed)) = (signature, signer) else {
        return Err(SignatureError::Unsigned);
    };
    let recovered = recover(signature, schema, version, key, value)?;
    let claimed = claimed.trim().to_ascii_lowercase();
    if recovered != claimed {
        return Err(SignatureError::BadSignature { recovered, claimed });
    }
    let orchestrator = key
        .parse::<OrchestratorAddress>()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_else(|_| key.to_ascii_lowercase());
    if recovered == orchestrator || bound(&recovered, &orchestrator) {
        Ok(recovered)
    } else {
        Err(SignatureError::SignerMismatch {
            signer: recovered,
            orchestrator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first Hardhat/Anvil development key and its well-known address.
    const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const DEV_ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

    #[test]
    fn addresses_follow_ethereum() {
        assert_eq!(Signer::from_hex(DEV_KEY).unwrap().address(), DEV_ADDRESS);
        assert_eq!(
            Signer::from_hex(&format!("0x{DEV_KEY}")).unwrap().address(),
            DEV_ADDRESS
        );
        assert!(Signer::from_hex("abcd").is_err());
    }

    #[test]
    fn sign_then_verify_and_every_tamper_fails() {
        let s = Signer::from_hex(DEV_KEY).unwrap();
        let sig = s.sign("node_telemetry", "1", DEV_ADDRESS, b"ipc bytes");
        let ok = verify(
            Some(&sig),
            Some(DEV_ADDRESS),
            "node_telemetry",
            "1",
            DEV_ADDRESS,
            b"ipc bytes",
            |_, _| false,
        );
        assert_eq!(ok.unwrap(), DEV_ADDRESS);
        let check = |schema: &str, key: &str, value: &[u8]| {
            verify(Some(&sig), Some(DEV_ADDRESS), schema, "1", key, value, |_, _| false)
                .unwrap_err()
                .reason()
        };
        assert_eq!(check("node_telemetry", DEV_ADDRESS, b"ipc bytez"), "bad_signature");
        assert_eq!(check("other", DEV_ADDRESS, b"ipc bytes"), "bad_signature");
        assert_eq!(
            check(
                "node_telemetry",
                "0x00000000000000000000000000000000000000aa",
                b"ipc bytes"
            ),
            "bad_signature"
        );
        assert_eq!(
            verify(None, None, "node_telemetry", "1", DEV_ADDRESS, b"x", |_, _| false).unwrap_err(),
            SignatureError::Unsigned
        );
        // Signed correctly, but for somebody else's orchestrator.
        let other = "0x00000000000000000000000000000000000000aa";
        let sig = s.sign("node_telemetry", "1", other, b"v");
        let err = verify(
            Some(&sig),
            Some(DEV_ADDRESS),
            "node_telemetry",
            "1",
            other,
            b"v",
            |_, _| false,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "signer_mismatch");
        // ... unless its operating key is bound to that orchestrator.
        let bound = |signer: &str, orch: &str| signer == DEV_ADDRESS && orch == other;
        assert!(verify(Some(&sig), Some(DEV_ADDRESS), "node_telemetry", "1", other, b"v", bound).is_ok());
    }
}
