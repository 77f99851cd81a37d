//! What a weighted selection policy sees of each orchestrator at hour h
//! besides its score: the price it was paid at and the discovery latency
//! gateways measured, from the lake's `payments` and `discovery_latency`
//! (`sql/backtest/evidence.sql`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use naap_events::tables::{DISCOVERY_LATENCY, PAYMENTS};

use crate::Error;

/// One orchestrator's price (wei per pixel) and latency (ms) in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Seen {
    pub price: Option<f64>,
    pub latency_ms: Option<f64>,
}

/// (hour, on-chain address, lower case) → what was seen of it.
pub(crate) type Evidence = HashMap<(i64, String), Seen>;

/// Reads the hours [from_ms, to_ms) of the two tables into `ctx` and
/// runs the evidence query over them.
pub(crate) async fn read(
    lake: &naap_sql::Lake,
    ctx: &SessionContext,
    from_ms: i64,
    to_ms: i64,
) -> Result<Evidence, Error> {
    let schemas = naap_sql::hourly::schemas().await?;
    for table in [PAYMENTS.name, DISCOVERY_LATENCY.name] {
        let schema = schemas
            .iter()
            .find(|(name, _)| *name == table)
            .map(|(_, s)| naap_sql::hourly::nullable(s))
            .ok_or_else(|| Error::NoData(format!("no schema for {table}")))?;
        let mut batches = Vec::new();
        for batch in naap_sql::delta::read_hours(lake, table, from_ms, to_ms).await? {
            batches.push(naap_events::lake_types::from_lake(&batch, &schema)?);
        }
        ctx.deregister_table(table)?;
        ctx.register_table(table, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    }
    of(ctx).await
}

/// The evidence query over the `payments` and `discovery_latency`
/// registered in `ctx`.
pub(crate) async fn of(ctx: &SessionContext) -> Result<Evidence, Error> {
    let mut out = Evidence::new();
    for b in &crate::inputs::query(ctx, "backtest_evidence").await? {
        add(b, &mut out)?;
    }
    Ok(out)
}

fn add(b: &RecordBatch, out: &mut Evidence) -> Result<(), Error> {
    let column = |name: &str, to: &DataType| {
        let array = b
            .column_by_name(name)
            .ok_or_else(|| Error::NoData(format!("evidence.sql has no column {name}")))?;
        Ok::<_, Error>(cast(array, to)?)
    };
    let hour = column("hour_ms", &DataType::Int64)?;
    let orchestrator = column("orchestrator", &DataType::Utf8)?;
    let price = column("price_wei_per_pixel", &DataType::Float64)?;
    let latency = column("latency_ms", &DataType::Float64)?;
    let (hour, orchestrator) = (hour.as_primitive::<Int64Type>(), orchestrator.as_string::<i32>());
    let (price, latency) = (
        price.as_primitive::<Float64Type>(),
        latency.as_primitive::<Float64Type>(),
    );
    let value = |a: &arrow::array::Float64Array, i: usize| (a.is_valid(i) && a.value(i) > 0.0).then(|| a.value(i));
    for i in 0..b.num_rows() {
        if hour.is_null(i) || orchestrator.is_null(i) {
            continue;
        }
        let seen = out
            .entry((hour.value(i), orchestrator.value(i).to_owned()))
            .or_default();
        seen.price = seen.price.or(value(price, i));
        seen.latency_ms = seen.latency_ms.or(value(latency, i));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prices_and_latency_meet_on_the_on_chain_address() {
        let ctx = SessionContext::new();
        let setup = [
            "CREATE TABLE payments AS SELECT * FROM (VALUES
               (to_timestamp_millis(0), '0xA', 'https://a:8935', 100.0, 300.0),
               (to_timestamp_millis(0), '0xa', 'https://a:8935', 150.0, 200.0),
               (to_timestamp_millis(3600000), '0xb', 'https://b:8935', 50.0, 50.0))
             AS t(window_start, orchestrator, orchestrator_url, price_wei_per_pixel_min, price_wei_per_pixel_max)",
            "CREATE TABLE discovery_latency AS SELECT * FROM (VALUES
               (to_timestamp_millis(0), '0xop', 'https://A:8935', 90.0, 3),
               (to_timestamp_millis(0), '0xop', 'https://a:8935', 30.0, 1),
               (to_timestamp_millis(0), '0xC', 'https://c:8935', 40.0, 2),
               (to_timestamp_millis(0), '0xd', 'https://d:8935', 0.0, 0))
             AS t(window_start, orchestrator_address, orchestrator_url, latency_sum_ms, samples)",
        ];
        for sql in setup {
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
        }
        let seen = of(&ctx).await.unwrap();
        let at = |h: i64, o: &str| seen.get(&(h, o.to_owned())).copied();
        // 0xa: paid 100..300 in hour 0; its URL's round trips (any case) are its own.
        assert_eq!(
            at(0, "0xa"),
            Some(Seen {
                price: Some(200.0),
                latency_ms: Some(30.0)
            })
        );
        // A URL no payment names keeps discovery's address.
        assert_eq!(
            at(0, "0xc"),
            Some(Seen {
                price: None,
                latency_ms: Some(20.0)
            })
        );
        assert_eq!(at(3_600_000, "0xb").and_then(|s| s.price), Some(50.0));
        // No samples, no latency; no row for an orchestrator never seen.
        assert_eq!(at(0, "0xd"), None);
        assert_eq!(seen.len(), 3);
    }
}
