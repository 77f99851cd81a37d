//! How every naap Kafka client (the agent's producer and its backup, the
//! pipeline's consumer, the demo, the benchmarks) reaches its broker:
//! `bootstrap.servers` plus librdkafka properties given as
//! `--kafka-property KEY=VALUE` (repeatable; in a config file
//! `kafka-property = ["security.protocol=SASL_SSL", …]`), and secrets from
//! the environment so they stay out of command lines, config files and
//! process listings: `NAAP_KAFKA_SASL_PASSWORD` (`sasl.password`) and
//! `NAAP_KAFKA_SSL_KEY_PASSWORD` (`ssl.key.password`). Properties are never
//! logged; [`Properties`]' `Debug` shows their keys only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;

/// Environment variables read for secret properties.
pub const SECRET_ENV: [(&str, &str); 2] = [
    ("NAAP_KAFKA_SASL_PASSWORD", "sasl.password"),
    ("NAAP_KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
];

/// librdkafka properties for a client, secrets included.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why properties were refused.
#[derive(Debug, thiserror::Error)]
pub enum PropertyError {
    #[error("--kafka-property {0:?} is not KEY=VALUE (e.g. security.protocol=SASL_SSL)")]
    NotKeyValue(String),
    #[error("--kafka-property {0}: set it in the client's own flags (--brokers), not as a property")]
    Reserved(String),
    /// librdkafka refused it (its words name the key, never the value).
    #[error("--kafka-property {key}: {reason}")]
    Refused { key: String, reason: String },
}

impl Properties {
    /// `KEY=VALUE` pairs as given, then the secrets of the environment
    /// (`env`, e.g. `std::env::var`), which win.
    pub fn parse(pairs: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Properties, PropertyError> {
        let mut map = BTreeMap::new();
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(PropertyError::NotKeyValue(redacted(pair)));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(PropertyError::NotKeyValue(redacted(pair)));
            }
            if key == "bootstrap.servers" || key == "metadata.broker.list" {
                return Err(PropertyError::Reserved(key.to_owned()));
            }
            map.insert(key.to_owned(), value.to_owned());
        }
        for (var, key) in SECRET_ENV {
            if let Some(secret) = env(var).filter(|s| !s.is_empty()) {
                map.insert(key.to_owned(), secret);
            }
        }
        let properties = Properties(map);
        properties.check()?;
        Ok(properties)
    }

    /// Refuses a property librdkafka does not know or cannot take, before
    /// any client is made: its own errors repeat the value, which may be a
    /// secret, so only the key and librdkafka's reason are kept.
    fn check(&self) -> Result<(), PropertyError> {
        for (key, value) in &self.0 {
            let mut one = ClientConfig::new();
            one.set(key, value);
            if let Err(rdkafka::error::KafkaError::ClientConfig(_, reason, _, _)) = one.create_native_config() {
                return Err(PropertyError::Refused {
                    key: key.clone(),
                    reason: reason.replace(value.as_str(), "…"),
                });
            }
        }
        Ok(())
    }

    /// From the process's arguments and environment.
    pub fn from_env(pairs: &[String]) -> Result<Properties, PropertyError> {
        Self::parse(pairs, |var| std::env::var(var).ok())
    }

    /// A client configuration for `brokers` with these properties.
    pub fn client(&self, brokers: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        for (key, value) in &self.0 {
            config.set(key, value);
        }
        config
    }

    /// The properties as a map, e.g. for a consumer's own configuration.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }

    /// How the client talks to the broker, for its start-up line
    /// (`security.protocol`, `PLAINTEXT` unless set; the SASL mechanism).
    pub fn describe(&self) -> String {
        let protocol = self.0.get("security.protocol").map_or("PLAINTEXT", String::as_str);
        match self.0.get("sasl.mechanism").or_else(|| self.0.get("sasl.mechanisms")) {
            Some(mechanism) => format!("{protocol} ({mechanism})"),
            None => protocol.to_owned(),
        }
    }
}

/// What the agent's producers report of their broker connections: each
/// distinct problem once, as a WARN line in plain words (a wrong password,
/// an unknown CA, a plaintext client on a TLS port), never an ERROR, since
/// the spool keeps every message; repeats go to debug. The newest problem
/// is kept for the outage report.
/// Clones share what they saw (the producer holds one, its owner another).
#[derive(Debug, Default, Clone)]
pub struct Reporter {
    /// (what it means, librdkafka's words) of the newest problem.
    last: Arc<Mutex<Option<(&'static str, String)>>>,
}

impl Reporter {
    /// The newest connection problem, if any.
    pub fn last_problem(&self) -> Option<String> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref().map(|(meaning, _)| (*meaning).to_owned())
    }

    /// Warns when the kind of problem changes; the same kind again (each
    /// retry, each broker) goes to debug.
    fn note(&self, what: &str, reason: &str) {
        let meaning = meaning(reason);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref().is_some_and(|(m, _)| *m == meaning) {
            tracing::debug!(what, reason, "broker connection");
        } else {
            tracing::warn!(
                problem = meaning,
                detail = reason,
                "cannot reach the broker; messages stay in the spool"
            );
        }
        *last = Some((meaning, reason.to_owned()));
    }
}

impl ClientContext for Reporter {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let severe = matches!(
            level,
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error
        );
        // "FAIL" is a connection that failed, whatever level it is logged
        // at, except an established one the broker closed when idle.
        let idle_close = message.contains("Disconnected") && message.contains("state UP");
        if severe || (facility == "FAIL" && !idle_close) {
            self.note(facility, message)
        } else {
            tracing::debug!(facility, message, "librdkafka");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // "all brokers down" repeats what the failure before it said.
        if !reason.contains("brokers are down") {
            self.note(&error.to_string(), reason);
        }
    }
}

/// What librdkafka's words for a connection problem mean, for an operator.
fn meaning(reason: &str) -> &'static str {
    let lower = reason.to_lowercase();
    if lower.contains("authentication") || lower.contains("sasl") {
        "authentication failed (user, password or mechanism)"
    } else if lower.contains("certificate verify failed") || lower.contains("unable to get local issuer") {
        "the broker's TLS certificate is not trusted (ssl.ca.location)"
    } else if lower.contains("apiversion_query") && lower.contains("by peer") {
        "the broker closed the connection at the first request (a plaintext client on a TLS port? security.protocol=SSL)"
    } else if lower.contains("ssl") || lower.contains("tls") || lower.contains("wrong version number") {
        "TLS handshake failed (is the port TLS, and security.protocol SSL or SASL_SSL?)"
    } else if lower.contains("connection refused") || lower.contains("connect to") {
        "connection refused"
    } else {
        "broker connection failed"
    }
}

/// A pair shown in an error without its value (it may be a secret).
fn redacted(pair: &str) -> String {
    if pair.len() > 64 {
        format!("{}…", &pair[..pair.floor_char_boundary(64)])
    } else {
        pair.to_owned()
    }
    .replace(|c: char| c.is_control(), "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_take_pairs_and_secrets_from_the_environment_and_never_show_values() {
        let pairs = vec![
            "security.protocol=SASL_SSL".to_owned(),
            "sasl.mechanism=SCRAM-SHA-512".to_owned(),
        ];
        let env = |var: &str| (var == "NAAP_KAFKA_SASL_PASSWORD").then(|| "s3cret".to_owned());
        let p = Properties::parse(&pairs, env).unwrap();
        assert_eq!(p.describe(), "SASL_SSL (SCRAM-SHA-512)");
        let shown = format!("{p:?}");
        assert!(shown.contains("sasl.password") && !shown.contains("s3cret"), "{shown}");
        assert_eq!(p.client("b:9092").get("sasl.password"), Some("s3cret"));
        assert_eq!(p.client("b:9092").get("bootstrap.servers"), Some("b:9092"));
        let no_env = |_: &str| None;
        assert!(matches!(
            Properties::parse(&["x".into()], no_env),
            Err(PropertyError::NotKeyValue(_))
        ));
        assert!(matches!(
            Properties::parse(&["=y".into()], no_env),
            Err(PropertyError::NotKeyValue(_))
        ));
        let unknown = Properties::parse(&["sasl.pasword=hunter2".into()], no_env)
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("sasl.pasword") && !unknown.contains("hunter2"),
            "{unknown}"
        );
        let reserved = Properties::parse(&["bootstrap.servers=a:1".into()], no_env).unwrap_err();
        assert!(reserved.to_string().contains("--brokers"), "{reserved}");
        assert_eq!(Properties::parse(&[], no_env).unwrap().describe(), "PLAINTEXT");
    }
}
