//! The SQL files of `sql/`, embedded at build time, with their headers.
//!
//! A rule lives at `sql/rules/<name>/v<N>.sql`. A released version is never
//! edited: a change is a new file `v<N+1>.sql`, and every version keeps
//! running side by side, each writing rows that name their rule and version.

use std::collections::BTreeMap;

/// Why a SQL file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: header is missing `-- {key}:`")]
    MissingKey { file: &'static str, key: &'static str },
    #[error("{file}: version {value:?} is not a positive integer")]
    BadVersion { file: &'static str, value: String },
}

/// The `-- key: value` header every SQL file starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHeader {
    pub name: String,
    pub version: u32,
    pub owner: String,
    pub inputs: String,
    pub output: String,
    pub description: String,
}

/// One SQL file: its header and its query.
#[derive(Debug, Clone)]
pub struct Rule {
    pub file: &'static str,
    pub header: RuleHeader,
    pub sql: &'static str,
}

impl Rule {
    /// The view name a rule is registered under: `<name>_v<version>`.
    pub fn view_name(&self) -> String {
        format!("{}_v{}", self.header.name, self.header.version)
    }

    fn parse(file: &'static str, sql: &'static str) -> Result<Rule, RuleError> {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let mut last: Option<&str> = None;
        for line in sql.lines() {
            let Some(comment) = line.strip_prefix("--") else { break };
            let text = comment.trim();
            match text.split_once(':') {
                Some((key, value)) if !comment.starts_with("   ") && key.chars().all(|c| c.is_ascii_lowercase()) => {
                    fields.insert(key, value.trim().to_owned());
                    last = Some(key);
                }
                _ => {
                    if let Some(key) = last {
                        let entry = fields.entry(key).or_default();
                        entry.push('\n');
                        entry.push_str(text);
                    }
                }
            }
        }
        let mut take = |key: &'static str| fields.remove(key).ok_or(RuleError::MissingKey { file, key });
        let version_text = take("version")?;
        let version = version_text
            .parse()
            .ok()
            .filter(|v| *v > 0)
            .ok_or(RuleError::BadVersion {
                file,
                value: version_text,
            })?;
        Ok(Rule {
            file,
            header: RuleHeader {
                name: take("name")?,
                version,
                owner: take("owner")?,
                inputs: take("inputs")?,
                output: take("output")?,
                description: take("description")?,
            },
            sql,
        })
    }
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!(concat!("../", $path)))),*]
    };
}

const AGGREGATES: [(&str, &str); 8] = embed!(
    "aggregates/telemetry_1m.sql",
    "aggregates/telemetry_1m_merge.sql",
    "aggregates/sessions.sql",
    "aggregates/orchestrator_hourly.sql",
    "aggregates/sla_inputs_hourly.sql",
    "aggregates/gpu_inventory.sql",
    "aggregates/discovery_latency.sql",
    "aggregates/payments.sql",
);

const RULES: [(&str, &str); 2] = embed!("rules/uptime/v1.sql", "rules/sla/v1.sql");

const VIEWS: [(&str, &str); 1] = embed!("views/scores_latest.sql");

/// Coarser windows of `telemetry_1m`, each level from the one before.
const ROLLUPS: [(&str, &str); 3] = embed!(
    "views/telemetry_5m.sql",
    "views/telemetry_1h.sql",
    "views/telemetry_1d.sql"
);

fn parse_all(files: &[(&'static str, &'static str)]) -> Vec<Rule> {
    files
        .iter()
        .map(|(file, sql)| Rule::parse(file, sql).expect("embedded SQL headers are checked by the unit tests"))
        .collect()
}

/// The window aggregates the pipeline runs, by name.
pub fn aggregates() -> BTreeMap<String, Rule> {
    parse_all(&AGGREGATES)
        .into_iter()
        .map(|r| (r.header.name.clone(), r))
        .collect()
}

/// Every scoring rule version, ordered by name then version.
pub fn rules() -> Vec<Rule> {
    let mut all = parse_all(&RULES);
    all.sort_by(|a, b| (&a.header.name, a.header.version).cmp(&(&b.header.name, b.header.version)));
    all
}

/// The rule versions that read `input` (their header's first input).
pub fn rules_over(input: &str) -> Vec<Rule> {
    rules()
        .into_iter()
        .filter(|r| r.header.inputs.split([',', ' ']).next() == Some(input))
        .collect()
}

/// The serving views (`sql/views/`), by name.
pub fn views() -> BTreeMap<String, Rule> {
    parse_all(&VIEWS)
        .into_iter()
        .map(|r| (r.header.name.clone(), r))
        .collect()
}

/// The rollups of `telemetry_1m` (5 min, 1 h, 1 d), finest first: each
/// reads the one before it (its header's input).
pub fn rollups() -> Vec<Rule> {
    parse_all(&ROLLUPS)
}

/// The aggregate with `name`; the set is fixed at build time.
pub fn aggregate(name: &str) -> Rule {
    aggregates()
        .remove(name)
        .unwrap_or_else(|| panic!("aggregate {name} is embedded by this crate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_complete_header() {
        for (file, sql) in AGGREGATES
            .iter()
            .chain(RULES.iter())
            .chain(VIEWS.iter())
            .chain(ROLLUPS.iter())
        {
            let rule = Rule::parse(file, sql).unwrap();
            assert!(!rule.header.description.is_empty(), "{file}");
            if file.starts_with("rules/") {
                let expected = format!("rules/{}/v{}.sql", rule.header.name, rule.header.version);
                assert_eq!(*file, expected, "a rule's path names its rule and version");
            }
        }
    }

    #[test]
    fn header_parsing() {
        let rule = Rule::parse(
            "x.sql",
            "-- name: demo\n-- version: 3\n-- owner: me\n-- inputs: a\n-- output: b\n-- description: one\n--   two\nSELECT 1",
        )
        .unwrap();
        assert_eq!(rule.header.version, 3);
        assert_eq!(rule.header.description, "one\ntwo");
        assert_eq!(rule.view_name(), "demo_v3");
        assert!(matches!(
            Rule::parse("y.sql", "-- name: demo\n-- version: 0\n"),
            Err(RuleError::BadVersion { .. })
        ));
        assert!(matches!(
            Rule::parse("z.sql", "-- name: demo\n-- version: 1\nSELECT 1"),
            Err(RuleError::MissingKey { key: "owner", .. })
        ));
    }
}
