//! The transport's own limit, for `bench/pipeline.sh`: reads every message
//! of a topic with rdkafka's `BaseConsumer` (the pipeline's consumer, same
//! settings) and does nothing with them: no decoding, no copy.
//!
//! ```text
//! cargo run --example raw_consume -- BROKERS TOPIC MESSAGES
//! ```
//!
//! Prints one JSON line: messages, bytes and seconds from the first message
//! to the last.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(brokers), Some(topic), Some(expected)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: raw_consume BROKERS TOPIC MESSAGES".into());
    };
    let expected: i64 = expected.parse()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "naap-bench-raw")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "65536")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let (mut messages, mut bytes) = (0i64, 0u64);
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while messages < expected && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            first.get_or_insert_with(Instant::now);
            messages += 1;
            bytes += m.payload().map_or(0, <[u8]>::len) as u64;
        }
    }
    let seconds = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!("{{\"messages\": {messages}, \"bytes\": {bytes}, \"seconds\": {seconds:.3}}}");
    Ok(())
}
