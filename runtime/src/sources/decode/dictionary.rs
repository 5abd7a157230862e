//! The series one worker's decoder has seen: found by a hash of how a message states them,
//! numbered once, forgotten when quiet, and limited in number.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nohash_hasher::NoHashHasher;
use pipe_dataflow::series::{IdMap, Labels, Place, SeriesId};
use pipe_dataflow::{Sample, SourceRecord};
use smallvec::SmallVec;

use pipe_dsl::plan::is_label_name;

use super::{Reading, Reason, StatedLabels, is_metric_name};

/// A 128-bit hash of a series as a message states it (metric name and raw label bytes): two
/// messages that write a series alike have the same key, without their labels being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatedKey(pub u128);

impl Hash for StatedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 as u64);
    }
}

impl nohash_hasher::IsEnabled for StatedKey {}

impl StatedKey {
    /// The key of `parts`, hashed as one byte string with a separator after each. They are
    /// laid end to end on the stack and hashed at once: xxh3's streaming state cost more than
    /// the hash of a message's hundred bytes of labels.
    #[inline]
    pub fn of(parts: &[&[u8]]) -> StatedKey {
        let mut bytes: SmallVec<[u8; 256]> = SmallVec::new();
        for part in parts {
            bytes.extend_from_slice(part);
            bytes.push(0xff);
        }
        StatedKey(xxhash_rust::xxh3::xxh3_128(&bytes))
    }
}

/// The cardinality limit of one source in one process, shared by its workers.
#[derive(Debug, Clone)]
pub struct SeriesLimit {
    live: Arc<AtomicU64>,
    limit: u64,
}

impl SeriesLimit {
    /// At most `limit` live series over the workers sharing the returned value.
    pub fn new(limit: u64) -> Self {
        SeriesLimit {
            live: Arc::default(),
            limit,
        }
    }

    fn admit(&self) -> bool {
        self.live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
                (live < self.limit).then_some(live + 1)
            })
            .is_ok()
    }

    fn release(&self, series: u64) {
        self.live.fetch_sub(series, Ordering::Relaxed);
    }
}

/// A series the decoder knows.
#[derive(Debug)]
pub struct Entry {
    /// The key it was first stated by.
    key: StatedKey,
    id: SeriesId,
    place: Place,
    labels: Labels,
    /// The newest sample's time.
    last_seen: u64,
    /// Whether its labels went out, since it was learnt or last re-announced.
    announced: bool,
    live: bool,
}

impl Entry {
    /// Sends a reading of this series, its labels first when they have not gone out.
    #[inline]
    pub fn send(&mut self, reading: Reading, out: &mut Vec<SourceRecord>) {
        if !self.announced {
            self.announced = true;
            out.push(SourceRecord::Series {
                place: self.place,
                id: self.id,
                labels: self.labels.clone(),
            });
        }
        out.push(SourceRecord::Sample {
            place: self.place,
            sample: Sample {
                series: self.id,
                ts: reading.ts,
                value: reading.value,
            },
        });
    }
}

type KeyMap = HashMap<StatedKey, u32, BuildHasherDefault<NoHashHasher<u64>>>;

/// The series a decoder has seen, by the keys messages state them with.
#[derive(Debug)]
pub struct Dictionary {
    placement: Option<Vec<String>>,
    ttl: Option<u64>,
    limit: Option<SeriesLimit>,
    by_key: KeyMap,
    by_id: IdMap<SeriesId, u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Where the next message's series probably is: producers tend to send series in the same
    /// order every interval, so this spares most lookups in the map, each a cache miss once
    /// the series are many.
    guess: usize,
    /// The watermark at which quiet series were last forgotten.
    swept_at: u64,
}

impl Dictionary {
    /// Series placed on workers by the labels `placement` names, forgotten after `ttl`
    /// milliseconds of event time without samples, at most as many as `limit` allows.
    pub fn new(
        placement: Option<Vec<String>>,
        ttl: Option<u64>,
        limit: Option<SeriesLimit>,
    ) -> Self {
        Dictionary {
            placement,
            ttl,
            limit,
            by_key: KeyMap::default(),
            by_id: IdMap::default(),
            entries: Vec::new(),
            free: Vec::new(),
            guess: 0,
            swept_at: 0,
        }
    }

    /// The series stated by `key`, learnt from `labels` (called only for a key not seen before)
    /// when new. A series quiet for half its time to live is announced again, so that the
    /// dataflow, which forgets quiet series on its own clock, has its labels before its sample.
    #[inline]
    pub fn find(
        &mut self,
        key: StatedKey,
        ts: u64,
        labels: impl FnOnce() -> Result<StatedLabels, Reason>,
    ) -> Result<&mut Entry, Reason> {
        let at = match self.entries.get(self.guess) {
            Some(entry) if entry.key == key && entry.live => self.guess as u32,
            _ => match self.by_key.get(&key) {
                Some(&at) => at,
                None => {
                    let at = self.learn(key, labels()?)?;
                    self.by_key.insert(key, at);
                    at
                }
            },
        };
        self.guess = at as usize + 1;
        let entry = &mut self.entries[at as usize];
        if let Some(ttl) = self.ttl
            && ts > entry.last_seen.saturating_add(ttl / 2)
        {
            entry.announced = false;
        }
        entry.last_seen = entry.last_seen.max(ts);
        Ok(entry)
    }

    fn learn(&mut self, key: StatedKey, stated: StatedLabels) -> Result<u32, Reason> {
        let Some(((_, metric), rest)) = stated.split_first() else {
            return Err(Reason::MissingField);
        };
        if !is_metric_name(metric) {
            return Err(Reason::InvalidName);
        }
        let mut names: Vec<&str> = stated.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1])
            || !rest.iter().all(|(name, _)| is_label_name(name))
        {
            return Err(Reason::InvalidName);
        }
        let labels = Labels::new(stated);
        let id = labels.series_id();
        if let Some(&at) = self.by_id.get(&id) {
            return Ok(at);
        }
        if self.limit.as_ref().is_some_and(|limit| !limit.admit()) {
            return Err(Reason::MaxSeries);
        }
        let entry = Entry {
            key,
            id,
            place: labels.place(self.placement.as_deref()),
            labels,
            last_seen: 0,
            announced: false,
            live: true,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.entries[at as usize] = entry;
                at
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        };
        self.by_id.insert(id, at);
        Ok(at)
    }

    /// Forgets the series without samples since `ttl` before `watermark`, at most once every
    /// quarter of the ttl: sources call it as their watermark moves.
    pub fn forget_quiet(&mut self, watermark: u64) {
        let Some(ttl) = self.ttl.filter(|ttl| watermark >= self.swept_at + ttl / 4) else {
            return;
        };
        self.swept_at = watermark;
        let horizon = watermark.saturating_sub(ttl);
        let mut forgotten = 0;
        for (at, entry) in self.entries.iter_mut().enumerate() {
            if entry.live && entry.last_seen < horizon {
                entry.live = false;
                entry.labels = Labels::default();
                self.by_id.remove(&entry.id);
                self.free.push(at as u32);
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            let entries = &self.entries;
            self.by_key.retain(|_, at| entries[*at as usize].live);
            if let Some(limit) = &self.limit {
                limit.release(forgotten);
            }
        }
    }

    /// Sends every known series' labels again with its next sample.
    pub fn announce_again(&mut self) {
        for entry in &mut self.entries {
            entry.announced = false;
        }
    }

    /// Series known now.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Drop for Dictionary {
    fn drop(&mut self) {
        if let Some(limit) = &self.limit {
            limit.release(self.by_id.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(metric: &str, host: &str) -> StatedLabels {
        vec![
            ("metric_name".into(), metric.into()),
            ("host".into(), host.into()),
        ]
    }

    fn find(
        dictionary: &mut Dictionary,
        metric: &str,
        host: &str,
        ts: u64,
    ) -> Result<Vec<SourceRecord>, Reason> {
        let key = StatedKey::of(&[metric.as_bytes(), host.as_bytes()]);
        let entry = dictionary.find(key, ts, || Ok(stated(metric, host)))?;
        let mut out = Vec::new();
        entry.send(Reading { ts, value: 1.0 }, &mut out);
        Ok(out)
    }

    #[test]
    fn a_series_is_announced_once_with_the_id_its_labels_hash_to() {
        let mut dictionary = Dictionary::new(None, None, None);
        let first = find(&mut dictionary, "cpu", "a", 10).unwrap();
        let labels = Labels::new(stated("cpu", "a"));
        assert_eq!(
            first[0],
            SourceRecord::Series {
                place: labels.place(None),
                id: labels.series_id(),
                labels: labels.clone()
            }
        );
        assert_eq!(find(&mut dictionary, "cpu", "a", 20).unwrap().len(), 1);
        assert_eq!(dictionary.len(), 1);
    }

    #[test]
    fn invalid_names_and_duplicates_are_refused() {
        let mut dictionary = Dictionary::new(None, None, None);
        assert_eq!(
            find(&mut dictionary, "9cpu", "a", 1),
            Err(Reason::InvalidName)
        );
        let key = StatedKey::of(&[b"x"]);
        let twice = || {
            Ok(vec![
                ("metric_name".into(), "cpu".into()),
                ("host".into(), "a".into()),
                ("host".into(), "b".into()),
            ])
        };
        assert_eq!(
            dictionary.find(key, 1, twice).err(),
            Some(Reason::InvalidName)
        );
        assert!(dictionary.is_empty());
    }

    #[test]
    fn the_limit_is_shared_and_quiet_series_are_forgotten_and_announced_again() {
        let limit = SeriesLimit::new(2);
        let mut one = Dictionary::new(None, Some(100), Some(limit.clone()));
        let mut two = Dictionary::new(None, Some(100), Some(limit));
        assert!(find(&mut one, "cpu", "a", 0).is_ok());
        assert!(find(&mut two, "cpu", "b", 0).is_ok());
        assert_eq!(find(&mut two, "cpu", "c", 0), Err(Reason::MaxSeries));
        // Quiet for half the ttl: announced again, so that the dataflow keeps it.
        assert_eq!(find(&mut one, "cpu", "a", 60).unwrap().len(), 2);
        one.forget_quiet(200);
        assert!(one.is_empty());
        assert_eq!(
            find(&mut two, "cpu", "c", 200).unwrap().len(),
            2,
            "a place freed"
        );
        assert_eq!(find(&mut one, "cpu", "a", 200), Err(Reason::MaxSeries));
    }
}
