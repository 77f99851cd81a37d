//! `within`: how far back from the newest scored window an orchestrator's
//! own newest scored window still counts, in the answers gateways poll
//! (`/orch-perf-stats`, `/v1/select`, the overview). An orchestrator that
//! was quiet in the newest hour keeps the score of its previous one instead
//! of dropping out of every gateway's feed; NaaP's discovery uses 2 hours.

use std::time::Duration;

/// A trailing window, 1 minute to 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Within(Duration);

impl Within {
    /// Two hours, like NaaP's discovery.
    pub const DEFAULT: Within = Within(Duration::from_secs(2 * 3600));
    /// A week, like NaaP's `window` clamp.
    pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

    /// `90m`, `2h`, `7d`, or a bare number of hours.
    pub fn parse(text: &str) -> Result<Within, String> {
        let text = text.trim();
        let (number, unit) = match text.char_indices().last() {
            Some((at, 'm')) => (&text[..at], 60),
            Some((at, 'h')) => (&text[..at], 3600),
            Some((at, 'd')) => (&text[..at], 24 * 3600),
            _ => (text, 3600),
        };
        let refuse = || format!("{text:?} is not a duration like 90m, 2h or 7d, between 1m and 7d");
        let n: u64 = number.parse().map_err(|_| refuse())?;
        let span = Duration::from_secs(n.checked_mul(unit).ok_or_else(refuse)?);
        if span < Duration::from_secs(60) || span > Self::MAX {
            return Err(refuse());
        }
        Ok(Within(span))
    }

    pub fn ms(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for Within {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl<'de> serde::Deserialize<'de> for Within {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Within::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_within_a_week() {
        assert_eq!(Within::parse("2h"), Ok(Within::DEFAULT));
        assert_eq!(Within::parse("120m"), Ok(Within::DEFAULT));
        assert_eq!(Within::parse("2"), Ok(Within::DEFAULT));
        assert_eq!(Within::parse("7d").map(Within::ms), Ok(7 * 24 * 3600 * 1000));
        for bad in [
            "",
            "0h",
            "30s",
            "8d",
            "169h",
            "-2h",
            "2.5h",
            "h",
            "99999999999999999999d",
            "2H",
        ] {
            assert!(Within::parse(bad).is_err(), "{bad}");
        }
    }
}
