//! The operator's signing key from an Ethereum keystore file (Web3 Secret
//! Storage: the JSON that geth, Clef and go-livepeer's `-ethKeystorePath`
//! keep), decrypted with the `eth-keystore` crate.

use std::path::Path;

use naap_events::signing::{KeyError, Signer};

/// Why a keystore could not be unlocked.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("{path}: {source}")]
    Decrypt {
        path: String,
        source: eth_keystore::KeystoreError,
    },
    #[error("{path}: {source}")]
    Key { path: String, source: KeyError },
}

/// Decrypts the keystore at `path` with `password`. A wrong password is a
/// MAC mismatch, reported as such.
pub fn open(path: &Path, password: &str) -> Result<Signer, KeystoreError> {
    let shown = path.display().to_string();
    let secret = eth_keystore::decrypt_key(path, password).map_err(|source| KeystoreError::Decrypt {
        path: shown.clone(),
        source,
    })?;
    Signer::from_bytes(&secret).map_err(|source| KeystoreError::Key { path: shown, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keystore_unlocks_to_its_key_and_a_wrong_password_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = [7u8; 32];
        eth_keystore::encrypt_key(dir.path(), &mut rand_core::OsRng, key, "correct horse", Some("op.json"))
            .expect("encrypt");
        let path = dir.path().join("op.json");
        let signer = open(&path, "correct horse").expect("unlock");
        let expected = Signer::from_bytes(&key).expect("valid key");
        assert_eq!(signer.address(), expected.address());
        let wrong = open(&path, "wrong").expect_err("wrong password");
        assert!(matches!(wrong, KeystoreError::Decrypt { .. }), "{wrong}");
        assert!(wrong.to_string().contains("op.json"), "{wrong}");
    }
}
