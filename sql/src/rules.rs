//! The SQL files of `sql/`, embedded at build time, with their headers.
//!
//! A rule lives at `sql/rules/<name>/v<N>.sql`. A released version never
//! changes what it computes: a change is a new file `v<N+1>.sql`, and every
//! version keeps running side by side, each writing rows that name their
//! rule and version. Only a rewrite for speed touches a released file, with
//! every expected result of its `.slt` unchanged.

use std::collections::BTreeMap;

/// Why a SQL file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: header is missing `-- {key}:`")]
    MissingKey { file: &'static str, key: &'static str },
    #[error("{file}: version {value:?} is not a positive integer")]
    BadVersion { file: &'static str, value: String },
    #[error("reading rule file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{file}: {name} v{version} already exists; a changed rule is a new version")]
    Exists {
        file: &'static str,
        name: String,
        version: u32,
    },
    #[error("{file}: writes {output}, but rule versions write one of the lake's score tables ({known})")]
    Output {
        file: &'static str,
        output: String,
        known: String,
    },
    /// A rule version asked for that `rules` does not hold: `reason` says
    /// why in words that fit any caller (a flag, an HTTP parameter).
    #[error("--rule {spec:?}: {reason} (versions from files come with --rule-file)")]
    Choice { spec: String, reason: String },
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

const AGGREGATES: [(&str, &str); 16] = embed!(
    "aggregates/telemetry_1m.sql",
    "aggregates/telemetry_1m_merge.sql",
    "aggregates/sessions.sql",
    "aggregates/orchestrator_hourly.sql",
    "aggregates/sla_inputs_hourly.sql",
    "aggregates/gpu_inventory.sql",
    "aggregates/discovery_latency.sql",
    "aggregates/payments.sql",
    "aggregates/ai_requests.sql",
    "aggregates/llm_requests.sql",
    "aggregates/byoc_attempts.sql",
    "aggregates/byoc_workers.sql",
    "aggregates/byoc_jobs.sql",
    "aggregates/requests_hourly.sql",
    "aggregates/byoc_auth_hourly.sql",
    "aggregates/byoc_payments_hourly.sql",
);

const RULES: [(&str, &str); 3] = embed!("rules/uptime/v1.sql", "rules/sla/v1.sql", "rules/jobs/v1.sql");

const VIEWS: [(&str, &str); 1] = embed!("views/scores_latest.sql");

/// What `naap backtest` compares scores with.
const BACKTEST: [(&str, &str); 2] = embed!("backtest/outcomes.sql", "backtest/evidence.sql");

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

/// The rule versions a process computes and serves: those built in, plus
/// any loaded from a file (`--rule-file`), e.g. a candidate version not yet
/// in the tree.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self::embedded()
    }
}

impl RuleSet {
    /// The versions under `sql/rules/`.
    pub fn embedded() -> Self {
        Self { rules: rules() }
    }

    /// Adds the rule version in the SQL file at `path`. Its header names a
    /// version no other file has, and it writes a table some built-in rule
    /// writes (the lake's score tables are fixed). The text is kept for the
    /// life of the process.
    pub fn load(&mut self, path: &std::path::Path) -> Result<&Rule, RuleError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let rule = Rule::parse(file, Box::leak(text.into_boxed_str()))?;
        let (name, version) = (rule.header.name.clone(), rule.header.version);
        if self.find(&name, version).is_some() {
            return Err(RuleError::Exists { file, name, version });
        }
        let builtin = rules();
        let outputs: std::collections::BTreeSet<&str> = builtin.iter().map(|r| r.header.output.as_str()).collect();
        if !outputs.contains(rule.header.output.as_str()) {
            return Err(RuleError::Output {
                file,
                output: rule.header.output.clone(),
                known: outputs.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
        self.rules.push(rule);
        self.rules
            .sort_by(|a, b| (&a.header.name, a.header.version).cmp(&(&b.header.name, b.header.version)));
        Ok(self.find(&name, version).expect("just added"))
    }

    /// Every version, ordered by rule name then version.
    pub fn all(&self) -> &[Rule] {
        &self.rules
    }

    /// The versions that read `input` (their header's first input).
    pub fn over(&self, input: &str) -> Vec<Rule> {
        self.rules
            .iter()
            .filter(|r| r.header.inputs.split([',', ' ']).next() == Some(input))
            .cloned()
            .collect()
    }

    /// Version `version` of rule `name`.
    pub fn find(&self, name: &str, version: u32) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.header.name == name && r.header.version == version)
    }

    /// The newest version of each rule.
    pub fn newest(&self) -> Served {
        Served(
            self.rules
                .iter()
                .map(|r| (r.header.name.clone(), r.header.version))
                .collect(),
        )
    }
}

/// The version of each rule that a server serves: what the router, the
/// perf-stats feed, the Explorer API and the dashboard read, and name in
/// their answers. The newest of each rule unless chosen (`--rule sla=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served(BTreeMap<String, u32>);

impl Default for Served {
    /// The newest built-in version of each rule.
    fn default() -> Self {
        RuleSet::embedded().newest()
    }
}

impl Served {
    /// Serves version `spec` (`<rule>=<version>`), which `rules` must hold.
    pub fn choose(&mut self, rules: &RuleSet, spec: &str) -> Result<(), RuleError> {
        let refuse = |reason: String| RuleError::Choice {
            spec: spec.to_owned(),
            reason,
        };
        let (name, version) = spec
            .split_once('=')
            .ok_or_else(|| refuse("expected <rule>=<version>, e.g. sla=1".into()))?;
        let (name, version) = (name.trim(), version.trim());
        let versions: Vec<u32> = rules
            .all()
            .iter()
            .filter(|r| r.header.name == name)
            .map(|r| r.header.version)
            .collect();
        if versions.is_empty() {
            return Err(refuse(format!("no rule {name}; rules: {}", self.names())));
        }
        let known = versions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let version = version
            .parse::<u32>()
            .ok()
            .filter(|v| versions.contains(v))
            .ok_or_else(|| refuse(format!("{name} has versions {known}, not {version}")))?;
        self.0.insert(name.to_owned(), version);
        Ok(())
    }

    /// The served version of `rule`, if the rule exists.
    pub fn version(&self, rule: &str) -> Option<u32> {
        self.0.get(rule).copied()
    }

    /// Each rule and its served version, by rule name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    fn names(&self) -> String {
        self.0.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Display for Served {
    /// `sla=1,uptime=1`: the form `--rule` takes, and the `naap-rules`
    /// header of every answer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Which of a rule's output rows [`score`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every row: the session's input holds only the windows to score (a
    /// rule over `telemetry_1m`).
    All,
    /// The rows of the window starting at this instant (ms since the
    /// epoch): an hourly rule's input also holds its benchmark history.
    WindowStart(i64),
}

/// The one harness every caller scores through (the pipeline's minute
/// windows and sealed hours, the perf-stats feed's regional re-runs): runs
/// `rule` read-only over the tables `ctx` holds, keeps the rows in `scope`
/// and stamps each with the rule's name and version.
pub async fn score(
    ctx: &datafusion::execution::context::SessionContext,
    rule: &Rule,
    scope: Scope,
) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
    let sql = match scope {
        Scope::All => rule.sql.to_owned(),
        Scope::WindowStart(ms) => format!(
            "SELECT * FROM ({}) AS scored WHERE CAST(CAST(scored.window_start AS TIMESTAMP(3)) AS BIGINT) = {ms}",
            rule.sql
        ),
    };
    let df = ctx.sql_with_options(&sql, crate::session::read_only()).await?;
    // Every row names the rule and version that made it, whatever the
    // file's SELECT wrote there: versions in one table never mix.
    let has = |c: &str| df.schema().has_column_with_unqualified_name(c);
    if !(has("rule") && has("rule_version")) {
        return Ok(df);
    }
    let version = i32::try_from(rule.header.version).unwrap_or(i32::MAX);
    df.with_column("rule", datafusion::prelude::lit(rule.header.name.as_str()))?
        .with_column("rule_version", datafusion::prelude::lit(version))
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

/// The backtest's query called `name` (`sql/backtest/<name>.sql`).
pub fn backtest(name: &str) -> Rule {
    parse_all(&BACKTEST)
        .into_iter()
        .find(|r| r.header.name == name)
        .unwrap_or_else(|| panic!("backtest query {name} is embedded by this crate"))
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
            .chain(BACKTEST.iter())
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
    fn served_versions_are_chosen_from_the_set() {
        let dir = std::env::temp_dir().join(format!("naap-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v2 = dir.join("sla_v2.sql");
        let v1 = rules().into_iter().find(|r| r.header.name == "sla").unwrap();
        std::fs::write(&v2, v1.sql.replacen("-- version: 1", "-- version: 2", 1)).unwrap();
        let mut set = RuleSet::embedded();
        let mut served = set.newest();
        assert_eq!(served.version("sla"), Some(1));
        assert!(matches!(served.choose(&set, "sla=2"), Err(RuleError::Choice { .. })));
        set.load(&v2).unwrap();
        assert!(matches!(set.load(&v2), Err(RuleError::Exists { version: 2, .. })));
        assert_eq!(set.newest().version("sla"), Some(2));
        served.choose(&set, "sla=2").unwrap();
        assert_eq!(served.to_string(), "jobs=1,sla=2,uptime=1");
        for bad in ["sla", "nope=1", "sla=x", "sla=0"] {
            assert!(served.choose(&set, bad).is_err(), "{bad}");
        }
        let elsewhere = dir.join("other.sql");
        let text = v1.sql.replacen("-- version: 1", "-- version: 3", 1);
        std::fs::write(&elsewhere, text.replacen("-- output: sla_hourly", "-- output: mine", 1)).unwrap();
        assert!(matches!(
            RuleSet::embedded().load(&elsewhere),
            Err(RuleError::Output { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
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
