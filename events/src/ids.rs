//! Validated identifiers that cross the wire.

use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("orchestrator address {value:?} is not 0x followed by 40 hex digits")]
    Address { value: String },
    #[error("event id must be 1..=128 printable ASCII characters, got {len} characters")]
    EventId { len: usize },
}

/// An Ethereum address in canonical form: `0x` and 40 lowercase hex digits.
///
/// go-livepeer writes addresses in mixed (EIP-55) case in some events and
/// lowercase in others; comparing them as strings only works once both sides
/// are canonical, so every address is lowered at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrchestratorAddress(String);

impl OrchestratorAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is already canonical (`0x` and 40 lowercase hex digits),
    /// checked without allocating.
    pub fn is_canonical(s: &str) -> bool {
        s.strip_prefix("0x")
            .is_some_and(|hex| hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    }
}

impl FromStr for OrchestratorAddress {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| IdError::Address { value: s.to_owned() })?;
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::Address { value: s.to_owned() });
        }
        Ok(Self(format!("0x{}", hex.to_ascii_lowercase())))
    }
}

impl fmt::Display for OrchestratorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A producer-assigned event id, stable across retries so that the pipeline
/// can deduplicate what arrives twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a valid event id, checked without allocating.
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
    }
}

impl FromStr for EventId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !Self::is_valid(s) {
            return Err(IdError::EventId { len: s.len() });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_is_lowered_and_validated() {
        let a: OrchestratorAddress = "0xD00354656922168815Fcd1e51CBddB9e359e3C7F".parse().unwrap();
        assert_eq!(a.as_str(), "0xd00354656922168815fcd1e51cbddb9e359e3c7f");
        assert!(
            "d00354656922168815fcd1e51cbddb9e359e3c7f"
                .parse::<OrchestratorAddress>()
                .is_err()
        );
        assert!("0x1234".parse::<OrchestratorAddress>().is_err());
        assert!(
            "0xz00354656922168815fcd1e51cbddb9e359e3c7f"
                .parse::<OrchestratorAddress>()
                .is_err()
        );
    }

    #[test]
    fn event_id_bounds() {
        assert!("".parse::<EventId>().is_err());
        assert!("a b".parse::<EventId>().is_err());
        assert!("x".repeat(129).parse::<EventId>().is_err());
        assert_eq!("abc-1".parse::<EventId>().unwrap().as_str(), "abc-1");
    }
}
