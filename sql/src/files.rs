//! Lake file names, and which files a reader sees.
//!
//! Every data file the pipeline writes is named
//!
//! ```text
//! {kind}{number:020}-p{partition:05}[-{tag}][.r{through:020}s{seq:020}]@{source}.parquet
//! ```
//!
//! * `kind` and `number`: `o` + the first source offset the file covers
//!   (raw events, samples, quarantine), `w` + the first window it holds
//!   (window and score tables), `h` + the sealed hour (hourly tables);
//! * `partition` and `source`: the input partition (`@` never occurs in a
//!   Kafka topic name, so the source is whatever follows the last `@`);
//! * `tag`: which of several outputs of one commit (a rule's view name);
//! * `.r through s seq`: a **replacement**, written by commit `seq`: it holds
//!   every row of the files of its *group* (same folder, kind, partition,
//!   tag and source) whose number lies in `[number, through]`, merged with
//!   whatever made it necessary (late events, or nothing: compaction).
//!
//! A reader sees a file unless a replacement of its group covers it: a plain
//! file whose number lies in a replacement's range, or a replacement whose
//! range lies in the range of a newer one (higher `seq`). So whether a
//! listing catches a commit before or after its replacement lands, it sees
//! each row once; the replaced files are deleted only after a grace period,
//! so a query that listed them before still finds them. [`VisibleStore`]
//! applies the rule to every listing; naap's own readers read through it.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

/// What a replacement covers and which commit wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces {
    /// The last number it covers (the first is the file's own number).
    pub through: i64,
    /// The commit that wrote it.
    pub seq: u64,
}

/// A parsed data-file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName<'a> {
    pub kind: char,
    pub number: i64,
    pub partition: i32,
    pub tag: Option<&'a str>,
    pub replaces: Option<Replaces>,
    pub source: &'a str,
}

impl fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:020}-p{:05}", self.kind, self.number, self.partition)?;
        if let Some(tag) = self.tag {
            write!(f, "-{tag}")?;
        }
        if let Some(r) = self.replaces {
            write!(f, ".r{:020}s{:020}", r.through, r.seq)?;
        }
        write!(f, "@{}.parquet", self.source)
    }
}

impl<'a> FileName<'a> {
    /// A plain (not replacing) file name.
    pub fn new(kind: char, number: i64, partition: i32, tag: Option<&'a str>, source: &'a str) -> Self {
        FileName {
            kind,
            number,
            partition,
            tag,
            replaces: None,
            source,
        }
    }

    /// Parses a name (the last path segment); `None` for any other file.
    pub fn parse(name: &'a str) -> Option<FileName<'a>> {
        let stem = name.strip_suffix(".parquet")?;
        let (head, source) = stem.rsplit_once('@')?;
        // `.` occurs neither in the fixed head nor in tags (view names).
        let (head, replaces) = match head.split_once(".r") {
            Some((head, rest)) => {
                let (through, seq) = rest.split_once('s')?;
                let replaces = Replaces {
                    through: through.parse().ok()?,
                    seq: seq.parse().ok()?,
                };
                (head, Some(replaces))
            }
            None => (head, None),
        };
        let kind = head.chars().next().filter(char::is_ascii_lowercase)?;
        let number: i64 = head.get(1..21)?.parse().ok()?;
        (head.get(21..23)? == "-p").then_some(())?;
        let partition: i32 = head.get(23..28)?.parse().ok()?;
        let tag = match head.get(28..)? {
            "" => None,
            rest => Some(rest.strip_prefix('-')?),
        };
        Some(FileName {
            kind,
            number,
            partition,
            tag,
            replaces,
            source,
        })
    }

    /// The numbers this file stands for: its own, or its replaced range.
    pub fn span(&self) -> (i64, i64) {
        (self.number, self.replaces.map_or(self.number, |r| r.through))
    }

    fn group(&self) -> Group<'a> {
        (self.kind, self.partition, self.tag, self.source)
    }

    /// Whether `newer` (a replacement of the same group) hides this file.
    fn hidden_by(&self, newer: &FileName<'_>) -> bool {
        let Some(r) = newer.replaces else { return false };
        let (first, last) = self.span();
        let covered = newer.number <= first && last <= r.through;
        covered && self.replaces.is_none_or(|mine| mine.seq < r.seq)
    }
}

/// Files that may replace one another: kind, partition, tag, source.
type Group<'a> = (char, i32, Option<&'a str>, &'a str);

/// For each path, whether a reader sees it (see the module docs).
pub fn visible<P: AsRef<str>>(paths: &[P]) -> Vec<bool> {
    let parsed: Vec<Option<(&str, FileName<'_>)>> = paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            let (folder, name) = p.rsplit_once('/').unwrap_or(("", p));
            FileName::parse(name).map(|n| (folder, n))
        })
        .collect();
    let mut replacements: HashMap<(&str, Group<'_>), Vec<FileName<'_>>> = HashMap::new();
    for (folder, name) in parsed.iter().flatten() {
        if name.replaces.is_some() {
            replacements.entry((folder, name.group())).or_default().push(*name);
        }
    }
    parsed
        .iter()
        .map(|p| match p {
            None => true,
            Some((folder, name)) => replacements
                .get(&(*folder, name.group()))
                .is_none_or(|rs| !rs.iter().any(|r| r != name && name.hidden_by(r))),
        })
        .collect()
}

/// An object store whose listings leave out replaced files; everything
/// else passes through.
#[derive(Debug)]
pub struct VisibleStore {
    inner: Arc<dyn ObjectStore>,
}

impl VisibleStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        VisibleStore { inner }
    }
}

impl fmt::Display for VisibleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisibleStore({})", self.inner)
    }
}

fn keep_visible(metas: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    let paths: Vec<String> = metas.iter().map(|m| m.location.to_string()).collect();
    metas
        .into_iter()
        .zip(visible(&paths))
        .filter_map(|(m, keep)| keep.then_some(m))
        .collect()
}

#[async_trait]
impl ObjectStore for VisibleStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        // Whether a file is replaced depends on its siblings: list the whole
        // prefix first, then filter.
        let listing = self.inner.list(prefix);
        futures::stream::once(async move { listing.try_collect::<Vec<_>>().await })
            .map(|listed| match listed {
                Ok(metas) => futures::stream::iter(keep_visible(metas).into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            })
            .flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects = keep_visible(listed.objects);
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let plain = FileName::new('w', 1_767_908_940_000, 3, Some("uptime_v1"), "naap.telemetry.v1");
        let text = plain.to_string();
        assert_eq!(text, "w00000001767908940000-p00003-uptime_v1@naap.telemetry.v1.parquet");
        assert_eq!(FileName::parse(&text), Some(plain));
        let replacing = FileName {
            replaces: Some(Replaces { through: 99, seq: 7 }),
            ..FileName::new('o', 42, 0, None, "file.x-y.r1s2.naapmsg")
        };
        let text = replacing.to_string();
        assert_eq!(FileName::parse(&text), Some(replacing));
        // Nothing in a name needs escaping in an object store path.
        assert_eq!(object_store::path::Path::from(text.as_str()).as_ref(), text);
        assert_eq!(FileName::parse("part-0.parquet"), None);
    }

    fn name(kind: char, number: i64, replaces: Option<(i64, u64)>) -> String {
        FileName {
            replaces: replaces.map(|(through, seq)| Replaces { through, seq }),
            ..FileName::new(kind, number, 0, None, "t")
        }
        .to_string()
    }

    #[test]
    fn a_replacement_hides_what_it_covers_and_a_newer_one_hides_it() {
        let dir = "lake/telemetry_1m/date=2026-01-08/hour=21";
        let files = [
            format!("{dir}/{}", name('w', 100, None)),
            format!("{dir}/{}", name('w', 200, None)),
            format!("{dir}/{}", name('w', 300, None)),
            // Late data for windows 100..200 arrived: commit 5 re-wrote them.
            format!("{dir}/{}", name('w', 100, Some((200, 5)))),
            // Another partition and another folder are other groups.
            format!("{dir}/{}", FileName::new('w', 150, 1, None, "t")),
            format!("lake/telemetry_1m/date=2026-01-08/hour=22/{}", name('w', 150, None)),
            format!("{dir}/_not_ours.parquet"),
        ];
        assert_eq!(visible(&files), [false, false, true, true, true, true, true]);
        // Compaction (commit 9) covers everything, the replacement included.
        let mut compacted = files.to_vec();
        compacted.push(format!("{dir}/{}", name('w', 100, Some((300, 9)))));
        assert_eq!(
            visible(&compacted),
            [false, false, false, false, true, true, true, true]
        );
    }
}
