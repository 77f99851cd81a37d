//! Where the lake lives and how its objects are named.
//!
//! ```text
//! <root>/lake/<table>/_delta_log/…                  the table's Delta log
//! <root>/lake/<table>/date=YYYY-MM-DD/hour=HH/…     its Parquet files
//! <root>/_naap/commits/<seq, 20 digits>.json        the pipeline's commit records
//! <root>/_naap/state/<seq>-<writer>[.ids].parquet   open windows and event ids
//! ```
//!
//! `<root>` is a local directory (default) or `s3://bucket/prefix`. Every
//! folder under `lake/` is a Delta Lake table (see [`crate::delta`]):
//! readers see exactly the files its log names at one version, whatever else
//! lies in the folder. `date` and `hour` are partition columns, so every
//! engine prunes by time from the log without reading a footer; their values
//! are not repeated inside the files. `_naap/` holds what is not a table.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

/// Why a lake location could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake location {location:?} is neither a directory path nor an s3:// URL")]
    Location { location: String },
    #[error("cannot create lake directory {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error(
        "{location} is a naap lake of the layout before Delta Lake ({found} exists): this naap reads and writes \
         Delta tables only; replay its input into a new lake location (or delete the old one)"
    )]
    OldLayout { location: String, found: String },
    #[error("object store for {location}: {source}")]
    Store {
        location: String,
        source: object_store::Error,
    },
}

/// S3 connection settings; unset fields fall back to the usual `AWS_*` variables.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
}

/// An opened lake: the store, the URL DataFusion knows it by, and the root prefix.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    store_url: Url,
    root: Path,
    display: String,
}

/// The file-name partition of a table row: `date=YYYY-MM-DD/hour=HH` (UTC).
pub fn hour_partition(epoch_ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(epoch_ms) {
        Some(t) => t.format("date=%Y-%m-%d/hour=%H").to_string(),
        // Outside chrono's range (±262,000 years): keep the row, visibly.
        None => "date=invalid/hour=invalid".to_owned(),
    }
}

impl Lake {
    /// Opens `location`: a directory path (created if missing), `file:///…`, or `s3://bucket/prefix`.
    pub fn open(location: &str, options: &StoreOptions) -> Result<Lake, LakeError> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LakeError::Location {
                    location: location.to_owned(),
                });
            }
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(S3ConditionalPut::ETagMatch);
            if let Some(endpoint) = &options.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &options.region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &options.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &options.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            if options.allow_http || options.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
                builder = builder.with_allow_http(true);
            }
            let store = builder.build().map_err(|source| LakeError::Store {
                location: location.to_owned(),
                source,
            })?;
            let store_url = Url::parse(&format!("s3://{bucket}")).map_err(|_| LakeError::Location {
                location: location.to_owned(),
            })?;
            return Ok(Lake {
                store: Arc::new(store),
                store_url,
                root: Path::from(prefix.trim_matches('/')),
                display: location.to_owned(),
            });
        }
        let dir = location.strip_prefix("file://").unwrap_or(location);
        if dir.contains("://") || dir.is_empty() {
            return Err(LakeError::Location {
                location: location.to_owned(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| LakeError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let abs = std::fs::canonicalize(dir).map_err(|source| LakeError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let root = Path::from_absolute_path(&abs).map_err(|source| LakeError::Store {
            location: location.to_owned(),
            source: source.into(),
        })?;
        Ok(Lake {
            store: Arc::new(LocalFileSystem::new()),
            store_url: Url::parse("file:///").expect("static URL parses"),
            root,
            display: abs.display().to_string(),
        })
    }

    /// The store itself: the bucket or the file system, from its root.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The URL under which the store is registered with DataFusion.
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// The root prefix inside the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/lake/<table>`
    pub fn table_dir(&self, table: &str) -> Path {
        self.join(&format!("lake/{table}"))
    }

    /// `<root>/lake`
    pub fn tables_dir(&self) -> Path {
        self.join("lake")
    }

    /// `<root>/_naap/<rest>`
    pub fn internal(&self, rest: &str) -> Path {
        self.join(&format!("_naap/{rest}"))
    }

    fn join(&self, rest: &str) -> Path {
        let root = self.root.as_ref();
        if root.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{root}/{rest}"))
        }
    }
}

impl std::fmt::Display for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_partitions_are_utc_civil_time() {
        assert_eq!(hour_partition(0), "date=1970-01-01/hour=00");
        // 2026-01-08T21:49:05.298Z, the first recorded gateway event.
        assert_eq!(hour_partition(1_767_908_945_298), "date=2026-01-08/hour=21");
        assert_eq!(hour_partition(951_782_400_000), "date=2000-02-29/hour=00");
        assert_eq!(hour_partition(-1), "date=1969-12-31/hour=23");
    }

    #[test]
    fn local_and_s3_locations() {
        let dir = std::env::temp_dir().join(format!("naap-lake-test-{}", std::process::id()));
        let lake = Lake::open(dir.to_str().unwrap(), &StoreOptions::default()).unwrap();
        assert_eq!(lake.table_location("scores").scheme(), "file");
        assert!(lake.table_location("scores").path().ends_with("/lake/scores/"));
        std::fs::remove_dir_all(&dir).unwrap();

        let opts = StoreOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            allow_http: true,
        };
        let s3 = Lake::open("s3://bucket/some/prefix", &opts).unwrap();
        assert_eq!(
            s3.table_location("scores").as_str(),
            "s3://bucket/some/prefix/lake/scores/"
        );
        assert_eq!(
            s3.internal("manifest/1.json").as_ref(),
            "some/prefix/_naap/manifest/1.json"
        );
        assert!(matches!(Lake::open("gs://x", &opts), Err(LakeError::Location { .. })));
    }
}
