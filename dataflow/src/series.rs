//! Series identity: a metric name and its labels, sorted, hashed once into a 64-bit id. The hot
//! path moves ids; the strings live in `Labels`, shared by reference.

use std::hash::BuildHasherDefault;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A hash map keyed by ids that are already hashes.
pub type IdMap<K, V> =
    std::collections::HashMap<K, V, BuildHasherDefault<nohash_hasher::NoHashHasher<u64>>>;

/// A series: stable across processes and runs, because it is a hash of the sorted labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesId(pub u64);

impl nohash_hasher::IsEnabled for SeriesId {}

/// A group of a rollup or an alert term: the hash of the grouping labels' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId(pub u64);

impl nohash_hasher::IsEnabled for GroupId {}

/// Label names and values, sorted by name. `metric_name` is a label like any other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Labels(Arc<[(Arc<str>, Arc<str>)]>);

impl Labels {
    /// Labels from pairs in any order; a name given twice keeps its last value.
    pub fn new<N: Into<Arc<str>>, V: Into<Arc<str>>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        Labels(pairs.into())
    }

    /// The value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .map(|at| self.0[at].1.as_ref())
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// How many labels there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels `names`, with the empty string for those this set lacks, as PromQL groups.
    pub fn project(&self, names: &[String]) -> Labels {
        Labels::new(
            names
                .iter()
                .map(|name| (name.as_str(), self.get(name).unwrap_or_default())),
        )
    }

    /// A hash of the labels that does not change between runs, processes or machines.
    pub fn stable_hash(&self) -> u64 {
        let mut bytes = Vec::with_capacity(64);
        for (name, value) in self.iter() {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0xfe);
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(0xff);
        }
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// The series these labels identify.
    pub fn series_id(&self) -> SeriesId {
        SeriesId(self.stable_hash())
    }

    /// Where the series these labels identify belongs: a hash of the labels `placement` names
    /// (see `Plan::placement`), or of them all when `None`.
    pub fn place(&self, placement: Option<&[String]>) -> Place {
        let hash = match placement {
            Some(names) => self.project(names).stable_hash(),
            None => self.stable_hash(),
        };
        Place(hash as u32)
    }

    /// The group these labels identify.
    pub fn group_id(&self) -> GroupId {
        GroupId(self.stable_hash())
    }
}

impl std::fmt::Display for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self.iter().map(|(n, v)| format!("{n}={v}")).collect();
        write!(f, "{{{}}}", pairs.join(", "))
    }
}

/// Where a series belongs among workers: the low bits of a hash of its placement labels
/// ([`Labels::place`]). Series with equal placement labels have equal places, so each group of
/// a rollup or rule that groups by those labels is whole on one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place(pub u32);

/// The worker that owns a series among `peers` workers, as timely's exchange routes its place.
pub fn owner(place: Place, peers: usize) -> usize {
    place.0 as usize % peers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_hash_the_same_in_any_order() {
        let a = Labels::new([("metric_name", "cpu"), ("host", "a")]);
        let b = Labels::new([("host", "a"), ("metric_name", "cpu")]);
        assert_eq!(a, b);
        assert_eq!(a.series_id(), b.series_id());
        assert_eq!(a.get("host"), Some("a"));
        assert_eq!(
            a.project(&["region".into(), "host".into()]).to_string(),
            "{host=a, region=}"
        );
    }

    #[test]
    fn the_hash_is_stable_across_releases() {
        // Series ids reach storage and other processes: this value must never change.
        let labels = Labels::new([("metric_name", "cpu_usage_percent"), ("host", "host-00001")]);
        assert_eq!(labels.stable_hash(), 0xb9c4_64a1_4e6f_e377);
    }
}
