//! The request analytics API: AI batch, LLM and BYOC work in the shapes of
//! NaaP's `/v1/requests/*` and the `requests` part of its dashboard, read
//! from the sealed tables by the `sql/serving/requests_*.sql` statements.
//!
//! Parameters follow NaaP: `start` and `end` are RFC 3339 and default to
//! the last 24 hours, `limit` runs from 1 to 1000 (default 50), `cursor`
//! is the opaque `next_cursor` of the page before, and `offset`, `page` and
//! `page_size` are refused. Unlike NaaP, a value that does not parse is
//! refused too (400, naming it) rather than silently replaced.

pub(crate) mod handlers;
mod rows;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use datafusion::scalar::ScalarValue;
use naap_sql::serving::{self, Query};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Catalog, Error, Result, cells};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The most rows a page may ask for.
pub const MAX_LIMIT: i64 = 1000;
const DEFAULT_LIMIT: i64 = 50;

fn refused(detail: impl Into<String>) -> Error {
    Error::Refused { detail: detail.into() }
}

/// `[start, end)` in Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// From `start` and `end` (RFC 3339), each defaulting to the last 24 h
    /// before `now_ms`.
    pub fn parse(start: Option<&str>, end: Option<&str>, now_ms: i64) -> Result<Window> {
        let end_ms = end.map(|v| instant("end", v)).transpose()?.unwrap_or(now_ms);
        let start_ms = start
            .map(|v| instant("start", v))
            .transpose()?
            .unwrap_or(end_ms - DAY_MS);
        if start_ms >= end_ms {
            return Err(refused("start must be before end"));
        }
        Ok(Window { start_ms, end_ms })
    }

    /// The hours of the sealed tables that hold the window: from the hour
    /// `start` falls in, to `end`.
    fn hours(&self) -> Vec<ScalarValue> {
        vec![
            ScalarValue::Int64(Some(self.start_ms.div_euclid(HOUR_MS) * HOUR_MS)),
            ScalarValue::Int64(Some(self.end_ms)),
        ]
    }

    /// NaaP's dashboard `window` ending at `now_ms`: hours written `6h`,
    /// `6` or days `7d`, from one hour; longer than 168 hours (7 days) is
    /// 168 hours, as in NaaP. What does not parse is refused (NaaP reads
    /// it as 24 hours).
    pub fn trailing(window: Option<&str>, now_ms: i64) -> Result<Window> {
        Ok(Window {
            start_ms: now_ms - trailing_ms(window)?,
            end_ms: now_ms,
        })
    }
}

/// Longest dashboard window.
pub const MAX_WINDOW_HOURS: i64 = 168;

/// The span of a dashboard `window`, ms (see [`Window::trailing`]).
pub fn trailing_ms(window: Option<&str>) -> Result<i64> {
    let text = window.map(str::trim).filter(|w| !w.is_empty()).unwrap_or("24h");
    let (number, hours_per) = match text.strip_suffix('d') {
        Some(days) => (days, 24),
        None => (text.strip_suffix('h').unwrap_or(text), 1),
    };
    let hours = number.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
        refused(format!(
            "window {text:?} is not a number of hours or days like 24h, 24 or 7d"
        ))
    })?;
    Ok(hours
        .min(MAX_WINDOW_HOURS)
        .saturating_mul(hours_per)
        .min(MAX_WINDOW_HOURS)
        * HOUR_MS)
}

/// An RFC 3339 instant as Unix ms.
fn instant(name: &str, value: &str) -> Result<i64> {
    let rfc3339 = value.len() >= 20 && value.as_bytes().get(10) == Some(&b'T');
    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(value)
        .ok()
        .filter(|_| rfc3339)
        .map(|ns| ns.div_euclid(1_000_000))
        .ok_or_else(|| {
            refused(format!(
                "{name} {value:?} is not an RFC 3339 time between 1677 and 2262 like 2026-04-15T12:00:00Z"
            ))
        })
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    /// The last row of the page before: (its time in ms, its key).
    pub after: Option<(i64, String)>,
}

impl Paging {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>, refused_params: &[(&str, bool)]) -> Result<Paging> {
        if let Some((name, _)) = refused_params.iter().find(|(_, given)| *given) {
            return Err(refused(format!("{name} is not supported; page with limit and cursor")));
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| refused(format!("limit {v:?} is not a whole number from 1 to {MAX_LIMIT}")))?,
        };
        let after = cursor.filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
        Ok(Paging { limit, after })
    }
}

fn encode_cursor(ms: i64, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ms}:{key}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (ms, key) = text.split_once(':')?;
            Some((ms.parse().ok()?, key.to_owned()))
        })
        .ok_or_else(|| refused("cursor is not one this server gave; start again without it"))
}

/// One page of a job list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
    pub meta: Meta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// Pass as `cursor` for the next page; "" on the last.
    pub next_cursor: String,
    pub has_more: bool,
    /// Rows in this page.
    pub page_size: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// This answer's id, for reports.
    pub request_id: String,
}

/// A row with the position it has in its list (the statement's
/// `completed_ms` and `cursor_key` columns).
#[derive(Deserialize)]
struct Keyed<T> {
    #[serde(flatten)]
    row: T,
    completed_ms: i64,
    cursor_key: String,
}

/// Runs a page statement (params: window, filter, cursor, rows) and pages it.
async fn page<T: DeserializeOwned>(
    catalog: &Catalog,
    statement: Query,
    window: Window,
    filter: Option<String>,
    paging: &Paging,
    now_ms: i64,
) -> Result<Page<T>> {
    let (after_ms, after_key) = match &paging.after {
        Some((ms, key)) => (Some(*ms), Some(key.clone())),
        None => (None, None),
    };
    let params = vec![
        ScalarValue::Int64(Some(window.start_ms)),
        ScalarValue::Int64(Some(window.end_ms)),
        ScalarValue::Utf8(filter),
        ScalarValue::Int64(after_ms),
        ScalarValue::Utf8(after_key),
        // One more than the page, to know whether another follows.
        ScalarValue::Int64(Some(paging.limit + 1)),
    ];
    let rows: Vec<Keyed<T>> = cells::typed(statement, &catalog.serve(statement, params).await?)?;
    Ok(Page::of(
        rows,
        paging.limit,
        |r| encode_cursor(r.completed_ms, &r.cursor_key),
        now_ms,
    )
    .map(|r| r.row))
}

impl<T> Page<T> {
    /// The page of `rows`, fetched one longer than `limit` to know whether
    /// another follows; `cursor` names where a row ends a page.
    pub(crate) fn of(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String, now_ms: i64) -> Page<T> {
        let has_more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next_cursor = rows.last().filter(|_| has_more).map(cursor).unwrap_or_default();
        Page {
            pagination: Pagination {
                next_cursor,
                has_more,
                page_size: rows.len(),
            },
            data: rows,
            meta: meta(now_ms),
        }
    }

    /// The same page with each row mapped.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            pagination: self.pagination,
            meta: self.meta,
        }
    }
}

tokio::task_local! {
    /// The client's `X-Request-Id`, while its request is answered.
    pub(crate) static REQUEST_ID: String;
}

/// The longest `X-Request-Id` echoed.
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 128;

/// A page's `meta`: the client's `X-Request-Id` echoed, as NaaP does, or
/// an id of this answer's own.
fn meta(now_ms: i64) -> Meta {
    Meta {
        generated_at: rfc3339(now_ms),
        request_id: REQUEST_ID
            .try_with(String::clone)
            .unwrap_or_else(|_| format!("{:016x}", rand::random::<u64>())),
    }
}

/// Unix ms as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    arrow::temporal_conversions::timestamp_ms_to_datetime(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Rows of a statement over the sealed hours of `window`, plus `extra` params.
async fn rows<T: DeserializeOwned>(
    catalog: &Catalog,
    statement: Query,
    window: Window,
    extra: Vec<ScalarValue>,
) -> Result<Vec<T>> {
    let mut params = window.hours();
    params.extend(extra);
    cells::typed(statement, &catalog.serve(statement, params).await?)
}

pub use rows::*;

pub async fn summary(catalog: &Catalog, window: Window, family: Family) -> Result<Vec<Summary>> {
    let family = ScalarValue::Utf8(Some(family.name().to_owned()));
    rows(catalog, serving::REQUESTS_SUMMARY, window, vec![family]).await
}

pub async fn llm_summary(catalog: &Catalog, window: Window) -> Result<Vec<LlmSummary>> {
    rows(catalog, serving::REQUESTS_LLM_SUMMARY, window, Vec::new()).await
}

pub async fn kpi(catalog: &Catalog, window: Window) -> Result<Kpis> {
    let rows: Vec<KpiRow> = rows(catalog, serving::REQUESTS_KPI, window, Vec::new()).await?;
    let of = |family: Family| {
        rows.iter()
            .find(|k| k.family == family.name())
            .map(|k| k.kpi.clone())
            .unwrap_or_else(Kpi::none)
    };
    Ok(Kpis {
        ai_batch: of(Family::AiBatch),
        byoc: of(Family::Byoc),
    })
}

pub async fn ai_jobs(
    catalog: &Catalog,
    window: Window,
    pipeline: Option<String>,
    paging: &Paging,
    now_ms: i64,
) -> Result<Page<AiJob>> {
    page(catalog, serving::REQUESTS_AI_JOBS, window, pipeline, paging, now_ms).await
}

pub async fn byoc_jobs(
    catalog: &Catalog,
    window: Window,
    capability: Option<String>,
    paging: &Paging,
    now_ms: i64,
) -> Result<Page<ByocJob>> {
    page(catalog, serving::REQUESTS_BYOC_JOBS, window, capability, paging, now_ms).await
}

pub async fn byoc_workers(catalog: &Catalog, window: Window) -> Result<Vec<WorkerSummary>> {
    rows(catalog, serving::REQUESTS_BYOC_WORKERS, window, Vec::new()).await
}

pub async fn byoc_auth(catalog: &Catalog, window: Window) -> Result<Vec<AuthSummary>> {
    rows(catalog, serving::REQUESTS_BYOC_AUTH, window, Vec::new()).await
}

pub async fn models(catalog: &Catalog, window: Window) -> Result<Vec<ModelOffer>> {
    rows(catalog, serving::REQUESTS_MODELS, window, Vec::new()).await
}

pub async fn orchestrators(catalog: &Catalog, window: Window) -> Result<Vec<OrchestratorOffer>> {
    rows(catalog, serving::REQUESTS_ORCHESTRATORS, window, Vec::new()).await
}

pub async fn by_orchestrator(catalog: &Catalog, window: Window) -> Result<Vec<OrchestratorWork>> {
    rows(catalog, serving::REQUESTS_BY_ORCHESTRATOR, window, Vec::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_776_258_000_000; // 2026-04-15T13:00:00Z

    #[test]
    fn windows_default_to_the_last_day_and_refuse_what_does_not_parse() {
        let w = Window::parse(None, None, NOW).unwrap();
        assert_eq!((w.start_ms, w.end_ms), (NOW - DAY_MS, NOW));
        let w = Window::parse(Some("2026-04-15T12:00:00Z"), Some("2026-04-15T13:00:00+00:00"), NOW).unwrap();
        assert_eq!((w.start_ms, w.end_ms), (NOW - HOUR_MS, NOW));
        for bad in ["yesterday", "2026-04-15", "1776254400", "", "9999-12-31T23:59:59Z"] {
            let e = Window::parse(Some(bad), None, NOW).unwrap_err().to_string();
            assert!(e.contains("start") && e.contains("RFC 3339"), "{e}");
        }
        assert!(Window::parse(Some("2026-04-15T13:00:00Z"), Some("2026-04-15T12:00:00Z"), NOW).is_err());
        assert_eq!(Window::trailing(Some("7d"), NOW).unwrap().start_ms, NOW - 7 * DAY_MS);
        for (window, hours) in [
            ("24", 24),
            ("6h", 6),
            ("30d", 168),
            ("169h", 168),
            ("99999999999999999h", 168),
        ] {
            assert_eq!(trailing_ms(Some(window)).unwrap(), hours * HOUR_MS, "{window}");
        }
        for bad in ["0h", "h", "-1h", "1.5h", "24H", "1w"] {
            assert!(Window::trailing(Some(bad), NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_take_a_bounded_limit_and_only_cursors_this_server_gave() {
        assert_eq!(Paging::parse(None, None, &[]).unwrap().limit, 50);
        for bad in ["0", "1001", "ten", "-5"] {
            assert!(Paging::parse(Some(bad), None, &[]).is_err(), "{bad}");
        }
        let cursor = encode_cursor(NOW, "gw/a:b");
        let p = Paging::parse(Some("2"), Some(&cursor), &[]).unwrap();
        assert_eq!(p.after, Some((NOW, "gw/a:b".to_owned())));
        for bad in ["!!", "Zm9v", &URL_SAFE_NO_PAD.encode("x:y")] {
            assert!(Paging::parse(None, Some(bad), &[]).is_err(), "{bad}");
        }
        let e = Paging::parse(None, None, &[("offset", false), ("page", true)]).unwrap_err();
        assert!(e.to_string().contains("page is not supported"), "{e}");
    }

    #[test]
    fn times_are_written_in_rfc3339() {
        assert_eq!(rfc3339(1_776_254_405_210), "2026-04-15T12:00:05.210Z");
    }
}
