//! What `naap pipeline --source` names: Kafka's topics, a Streamr stream,
//! or both, and the source the pipeline reads from them.

use std::collections::BTreeMap;

use anyhow::Context;
use naap_pipeline::{KafkaOptions, PipelineConfig, SourceSpec};

use crate::cli::PipelineArgs;

/// Where `naap pipeline` reads (files go through `naap replay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The topics of `--brokers`.
    Kafka,
    /// A Streamr stream, through naap's sidecar (`streamr/`).
    Streamr(String),
}

pub fn parse_source(text: &str) -> Result<Source, String> {
    match text.strip_prefix("streamr://") {
        _ if text == "kafka" => Ok(Source::Kafka),
        Some(stream) if !stream.is_empty() && stream.len() <= 512 && !stream.chars().any(char::is_control) => {
            Ok(Source::Streamr(stream.to_owned()))
        }
        _ => Err("kafka, or streamr://<stream id> (e.g. streamr://0xabc…/naap-events)".to_owned()),
    }
}

/// The source `args` name; a Streamr source's signatures become required
/// in `config`.
pub fn source_spec(
    args: &PipelineArgs,
    properties: BTreeMap<String, String>,
    config: &mut PipelineConfig,
) -> anyhow::Result<SourceSpec> {
    let kafka = args.source.contains(&Source::Kafka);
    let streamr = match args.source.iter().find_map(|s| match s {
        Source::Streamr(stream) => Some(stream.clone()),
        Source::Kafka => None,
    }) {
        Some(stream) => {
            // Every process of a group would receive the whole stream, and
            // none would own what it refuses: not supported (yet).
            anyhow::ensure!(
                !args.scale_out,
                "--scale-out and a Streamr source together are not supported: run one pipeline for the stream"
            );
            let spec = naap_pipeline::StreamrSpec {
                stream,
                network: args
                    .streamr_network
                    .clone()
                    .context("--source streamr://… needs --streamr-network FILE (or NAAP_STREAMR_NETWORK)")?,
                socket: std::env::temp_dir().join(format!("naap-pipeline-{}.sock", std::process::id())),
                loopback_only: args.streamr_loopback_only,
            };
            // Anyone may publish to a public stream: only messages signed by
            // an orchestrator (or an address bound to it) are taken.
            let name = SourceSpec::Streamr(spec.clone()).source_names().remove(0);
            config
                .signatures
                .per_source
                .insert(name, naap_pipeline::SignaturePolicy::Require);
            Some(spec)
        }
        None => None,
    };
    Ok(match (kafka, streamr) {
        (false, Some(spec)) => SourceSpec::Streamr(spec),
        (_, streamr) => SourceSpec::Kafka {
            brokers: args
                .brokers
                .clone()
                .context("give --brokers (or NAAP_BROKERS) to read Kafka")?,
            topics: args.topics.clone(),
            options: KafkaOptions {
                group_id: args.group_id.clone(),
                properties,
                scale_out: args.scale_out,
            },
            streamr,
        },
    })
}
