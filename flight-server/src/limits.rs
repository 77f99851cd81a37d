//! What one query may take: wall time, memory, and a share of the server.
//!
//! A public read endpoint must not let one heavy query starve the rest.
//! Every query runs in a session whose memory pool is capped and whose disk
//! spilling is off, so a query that outgrows its pool fails with a clear
//! error instead of growing the process; a deadline covers planning and the
//! whole result stream; and at most `max_concurrent` queries run at once,
//! the next one being refused at once rather than queued without bound.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Error;

/// Limits of every query the server runs for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Wall time from planning to the last row sent.
    pub timeout: Duration,
    /// Memory pool of one query, in bytes.
    pub memory_bytes: usize,
    /// Queries running at once; one more is refused.
    pub max_concurrent: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 * 1024 * 1024,
            max_concurrent: 8,
        }
    }
}

/// Hands out the running-query slots.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    limits: QueryLimits,
    slots: Arc<Semaphore>,
}

impl Admission {
    pub(crate) fn new(limits: QueryLimits) -> Self {
        Self {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
        }
    }

    pub(crate) fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// A slot for one query, held until its result stream ends or is dropped.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, Error> {
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| Error::Busy {
            max: self.limits.max_concurrent,
        })
    }
}

/// Ends `inner` with an [`Error::TimedOut`] item (naming `limit`) at
/// `deadline`, dropping it (which cancels the query's remaining work), and
/// keeps `slot` until the stream is done.
pub(crate) fn with_deadline<T, S>(
    inner: S,
    deadline: tokio::time::Instant,
    limit: Duration,
    slot: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<T, tonic::Status>> + Send + 'static
where
    T: Send + 'static,
    S: Stream<Item = Result<T, tonic::Status>> + Send + Unpin + 'static,
{
    futures::stream::unfold(Some((inner, slot)), move |state| async move {
        let (mut inner, slot) = state?;
        match tokio::time::timeout_at(deadline, inner.next()).await {
            Ok(Some(item)) => Some((item, Some((inner, slot)))),
            Ok(None) => None,
            Err(_) => Some((Err(Error::TimedOut { limit }.into()), None)),
        }
    })
}
