//! Who may read and who may administer: bearer tokens from a file.
//!
//! Without a token file the server is public and read-only: every read
//! endpoint answers anyone, and nothing needs a token because nothing
//! administrative is exposed. With one, each token has a name and a role
//! (`read` or `admin`), and `public_read` says whether reads still work
//! without a token. The file holds SHA-256 digests of the tokens, never the
//! tokens themselves, so a leaked config file grants nothing:
//!
//! ```toml
//! public_read = false
//! [[tokens]]
//! name = "gateway-fra"
//! sha256 = "…"        # printf %s "$TOKEN" | sha256sum
//! role = "read"
//! ```
//!
//! HTTP clients send `Authorization: Bearer <token>`. Flight clients send
//! the same header on every call, or authenticate once with the handshake
//! (HTTP Basic with the token as the password, any user name) and get the
//! bearer header back to send from then on. Raw quarantined messages (the
//! `quarantine` table, `/v1/quarantine/recent`) are admin-only: they hold
//! whatever a producer sent.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this server needs a token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not valid for this server")]
    Invalid,
    #[error("the authorization header is not `Bearer <token>` (or `Basic` in the Flight handshake)")]
    Malformed,
    #[error("this needs an admin token")]
    NotAdmin,
}

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    #[error("{path}: token {name:?}: sha256 must be 64 hex digits")]
    Digest { path: String, name: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    public_read: bool,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    role: RoleName,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    Read,
    Admin,
}

/// The server's access rules.
#[derive(Debug, Clone)]
pub struct Auth {
    public_read: bool,
    /// SHA-256 digest → (name, role).
    tokens: HashMap<[u8; 32], (String, Role)>,
}

impl Default for Auth {
    /// Public and read-only: no tokens.
    fn default() -> Self {
        Self {
            public_read: true,
            tokens: HashMap::new(),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// Reads a token file; unknown keys are refused.
    pub fn load(path: &Path) -> Result<Auth, AuthFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Auth::parse(&text, &shown)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Auth, AuthFileError> {
        let file: AuthFile = toml::from_str(text).map_err(|source| AuthFileError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        let mut tokens = HashMap::new();
        for t in file.tokens {
            let bytes = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            let Some(d) = bytes else {
                return Err(AuthFileError::Digest {
                    path: origin.to_owned(),
                    name: t.name,
                });
            };
            let role = match t.role {
                RoleName::Read => Role::Read,
                RoleName::Admin => Role::Admin,
            };
            tokens.insert(d, (t.name, role));
        }
        Ok(Auth {
            public_read: file.public_read,
            tokens,
        })
    }

    /// Whether any token is configured (the server then reports it).
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    fn token_role(&self, token: &str) -> Result<Role, Denied> {
        self.tokens
            .get(&digest(token))
            .map(|(_, role)| *role)
            .ok_or(Denied::Invalid)
    }

    /// The role of a request from its `authorization` header. A wrong token
    /// is refused even where reads are public: it is a client's mistake
    /// worth telling.
    pub fn role(&self, authorization: Option<&str>) -> Result<Role, Denied> {
        match authorization {
            None if self.public_read || self.tokens.is_empty() => Ok(Role::Read),
            None => Err(Denied::Missing),
            Some(value) => {
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or(Denied::Malformed)?;
                self.token_role(token.trim())
            }
        }
    }

    /// The Flight handshake: `Basic base64(user:token)` → the token, to be
    /// sent back as `Bearer <token>`.
    pub fn handshake(&self, authorization: Option<&str>) -> Result<(Role, String), Denied> {
        let value = authorization.ok_or(Denied::Missing)?;
        if let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| Denied::Malformed)?;
            let text = String::from_utf8(decoded).map_err(|_| Denied::Malformed)?;
            let (_, token) = text.split_once(':').ok_or(Denied::Malformed)?;
            return Ok((self.token_role(token)?, token.to_owned()));
        }
        let role = self.role(Some(value))?;
        let token = value[7..].trim().to_owned();
        Ok((role, token))
    }
}

/// Requires admin.
pub fn admin(role: Role) -> Result<(), Denied> {
    if role == Role::Admin {
        Ok(())
    } else {
        Err(Denied::NotAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(public_read: bool) -> Auth {
        let text = format!(
            "public_read = {public_read}\n[[tokens]]\nname = \"reader\"\nsha256 = \"{}\"\nrole = \"read\"\n\
             [[tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nrole = \"admin\"\n",
            hex::encode(digest("r-secret")),
            hex::encode(digest("a-secret"))
        );
        Auth::parse(&text, "test").expect("valid file")
    }

    #[test]
    fn tokens_map_to_roles_and_everything_else_is_refused() {
        let closed = auth(false);
        assert_eq!(closed.role(None), Err(Denied::Missing));
        assert_eq!(closed.role(Some("Bearer r-secret")), Ok(Role::Read));
        assert_eq!(closed.role(Some("Bearer a-secret")), Ok(Role::Admin));
        assert_eq!(closed.role(Some("Bearer nope")), Err(Denied::Invalid));
        assert_eq!(closed.role(Some("r-secret")), Err(Denied::Malformed));
        let open = auth(true);
        assert_eq!(open.role(None), Ok(Role::Read));
        assert_eq!(open.role(Some("Bearer nope")), Err(Denied::Invalid));
        assert_eq!(Auth::default().role(None), Ok(Role::Read));
        assert_eq!(admin(Role::Read), Err(Denied::NotAdmin));
    }

    #[test]
    fn the_handshake_takes_basic_credentials_and_returns_the_bearer_token() {
        use base64::Engine;
        let a = auth(false);
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("anyone:a-secret")
        );
        assert_eq!(a.handshake(Some(&basic)), Ok((Role::Admin, "a-secret".to_owned())));
        let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("x:nope"));
        assert_eq!(a.handshake(Some(&wrong)), Err(Denied::Invalid));
        assert_eq!(a.handshake(None), Err(Denied::Missing));
    }

    #[test]
    fn token_files_with_typos_or_bad_digests_are_refused() {
        assert!(matches!(
            Auth::parse("public_reed = true\n", "f"),
            Err(AuthFileError::Parse { .. })
        ));
        assert!(matches!(
            Auth::parse("[[tokens]]\nname = \"x\"\nsha256 = \"abc\"\nrole = \"read\"\n", "f"),
            Err(AuthFileError::Digest { .. })
        ));
        assert!(matches!(
            Auth::parse("[[tokens]]\nname = \"x\"\nsha256 = \"abc\"\nrole = \"root\"\n", "f"),
            Err(AuthFileError::Parse { .. })
        ));
    }
}
