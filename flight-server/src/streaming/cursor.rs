//! NaaP's page cursor: base64url (no padding) of a JSON array of strings,
//! the last row's hour in Unix ms first, then its keys. Opaque to
//! clients; decoded strictly (a cursor of another list, or edited, is
//! refused).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

/// Where the page before ended: its last row's hour and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct After {
    pub(crate) window_ms: i64,
    pub(crate) keys: Vec<String>,
}

impl After {
    /// The keys as the statements compare them: joined by U+0001, which
    /// sorts before any character a key holds.
    pub(crate) fn joined(&self) -> String {
        self.keys.join("\u{1}")
    }
}

pub(crate) fn encode(window_ms: i64, keys: &[&str]) -> String {
    let mut values = vec![window_ms.to_string()];
    values.extend(keys.iter().map(|k| (*k).to_owned()));
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&values).unwrap_or_default())
}

/// The cursor of a list keyed by `keys` keys; `None` for the first page.
pub(crate) fn decode(cursor: Option<&str>, keys: usize) -> Result<Option<After>> {
    let Some(text) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let refused = || Error::Refused {
        detail: "cursor is not one this list gave; start again without it".into(),
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| refused())?;
    let mut values: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| refused())?;
    if values.len() != keys + 1 {
        return Err(refused());
    }
    let window_ms: i64 = values[0].parse().map_err(|_| refused())?;
    if window_ms == 0 {
        return Ok(None);
    }
    values.remove(0);
    Ok(Some(After {
        window_ms,
        keys: values,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_this_list_did_not_give() {
        let c = encode(1_776_247_200_000, &["0xabc", "live-video-to-video", "sd", ""]);
        let after = decode(Some(&c), 4).unwrap().unwrap();
        assert_eq!(after.window_ms, 1_776_247_200_000);
        assert_eq!(after.joined(), "0xabc\u{1}live-video-to-video\u{1}sd\u{1}");
        assert!(decode(Some(&c), 3).is_err(), "another list's keys");
        assert_eq!(decode(Some(""), 4).unwrap(), None);
        assert_eq!(decode(None, 4).unwrap(), None);
        for bad in ["!!", "Zm9v", &format!("{c}=")] {
            assert!(decode(Some(bad), 4).is_err(), "{bad}");
        }
        let numbers = URL_SAFE_NO_PAD.encode("[1, \"a\", \"b\", \"c\", \"d\"]");
        assert!(decode(Some(&numbers), 4).is_err(), "the hour is a string");
    }
}
