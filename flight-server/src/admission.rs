//! Running client queries: a slot each (queue-or-refuse), threads of their
//! own, and one deadline from admission to the last row.
//!
//! Client queries never run on the threads that accept connections,
//! answer the fast paths, refresh the scores snapshot or (in `naap demo`)
//! run the pipeline: they run on a runtime of [`QueryLimits::threads`]
//! threads with large stacks, so however heavy they are, the rest of the
//! process keeps its cores and its timers, and a deadline fires on time. A
//! query that does not finish by its deadline is dropped where it runs,
//! which cancels its remaining work.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::auth::Role;
use crate::{Catalog, Error, QueryLimits, Result};

/// Stack of each query thread: planning and evaluating recurse over the
/// expression tree, which [`crate::guard`] bounds; this leaves a wide margin.
pub(crate) const QUERY_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Batches a running query may hold ready before its client reads them.
const READY_BATCHES: usize = 2;

/// The runtime client queries run on, shut down (without waiting) on drop.
#[derive(Debug)]
struct Workers(Option<tokio::runtime::Runtime>);

impl Drop for Workers {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Admission, threads and deadline of every client query.
#[derive(Debug, Clone)]
pub(crate) struct Queries {
    catalog: Arc<Catalog>,
    limits: QueryLimits,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    workers: Arc<Workers>,
}

/// A planned query's rows as they come, within its slot and deadline.
pub(crate) type Rows = std::pin::Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

impl Queries {
    pub(crate) fn new(catalog: Arc<Catalog>) -> Result<Self> {
        let limits = catalog.limits();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(limits.threads.max(1))
            .thread_stack_size(QUERY_STACK_BYTES)
            .thread_name("naap-query")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Self {
            catalog,
            limits,
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            workers: Arc::new(Workers(Some(runtime))),
        })
    }

    pub(crate) fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub(crate) fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// A running slot: at once if one is free, else after waiting at most
    /// `queue_timeout` among at most `max_queued` others; else refused.
    async fn admit(&self) -> Result<OwnedSemaphorePermit> {
        let busy = || Error::Busy {
            max: self.limits.max_concurrent,
        };
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(slot);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.max_queued {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let waited = tokio::time::timeout(self.limits.queue_timeout, Arc::clone(&self.slots).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(slot)) => Ok(slot),
            _ => Err(busy()),
        }
    }

    fn spawn<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> tokio::task::JoinHandle<T> {
        let runtime = self
            .workers
            .0
            .as_ref()
            .expect("the query runtime lives as long as Queries");
        runtime.spawn(work)
    }

    /// Runs the server's own work (the scores snapshot's refresh) on the
    /// query threads, without a slot or a deadline: heavy on a big lake, it
    /// must not hold the threads that accept connections.
    pub(crate) async fn background<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        self.spawn(work).await.map_err(|join| Error::Crashed {
            detail: join.to_string(),
        })
    }

    /// Runs `work` (a whole client request that queries the lake) in a
    /// slot, on the query threads, within the deadline.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let _slot = self.admit().await?;
        let limit = self.limits.timeout;
        let task = self.spawn(work);
        let abort = task.abort_handle();
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Crashed {
                detail: join.to_string(),
            }),
            Err(_) => {
                abort.abort();
                Err(Error::TimedOut { limit })
            }
        }
    }

    /// The schema `sql` would answer with (planned in a slot, on the query
    /// threads, within the deadline).
    pub(crate) async fn schema(&self, role: Role, sql: String, params: Option<Vec<ScalarValue>>) -> Result<SchemaRef> {
        let catalog = Arc::clone(&self.catalog);
        self.run(async move {
            let df = catalog.plan_as(role, &sql, params).await?;
            Ok(Arc::new(df.schema().as_arrow().clone()))
        })
        .await
    }

    /// Plans and runs `sql` on the query threads; its batches come back
    /// through a short channel, so a slow client holds back the query
    /// rather than letting its rows pile up here. The slot is held, and the
    /// deadline runs, until the stream ends or is dropped.
    pub(crate) async fn stream(
        &self,
        role: Role,
        sql: String,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<(SchemaRef, Rows)> {
        let slot = self.admit().await?;
        let limit = self.limits.timeout;
        let deadline = Instant::now() + limit;
        let (schema_tx, schema_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel::<Result<RecordBatch>>(READY_BATCHES);
        let catalog = Arc::clone(&self.catalog);
        let task = self.spawn(async move {
            let planned = async {
                let df = catalog.plan_as(role, &sql, params).await?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let batches = df.execute_stream().await.map_err(Error::query)?;
                Ok::<_, Error>((schema, batches))
            };
            let mut batches = match planned.await {
                Ok((schema, batches)) => {
                    let _ = schema_tx.send(Ok(schema));
                    batches
                }
                Err(e) => {
                    let _ = schema_tx.send(Err(e));
                    return;
                }
            };
            while let Some(batch) = batches.next().await {
                let failed = batch.is_err();
                if tx.send(batch.map_err(Error::query)).await.is_err() || failed {
                    return;
                }
            }
        });
        let running = Running {
            task: task.abort_handle(),
            _slot: slot,
        };
        let schema = match tokio::time::timeout_at(deadline, schema_rx).await {
            Ok(Ok(planned)) => planned?,
            Ok(Err(_)) => {
                return Err(Error::Crashed {
                    detail: "the query task ended before planning finished".into(),
                });
            }
            Err(_) => return Err(Error::TimedOut { limit }),
        };
        let rows = futures::stream::unfold(Some((rx, running)), move |state| async move {
            let (mut rx, running) = state?;
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => Some((item, Some((rx, running)))),
                Ok(None) => None,
                Err(_) => Some((Err(Error::TimedOut { limit }), None)),
            }
        });
        Ok((schema, Box::pin(rows)))
    }
}

/// A query task and its slot: dropping it stops the query and frees the slot.
struct Running {
    task: tokio::task::AbortHandle,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
