//! A reduce for totally ordered time that keeps each key's current values in a hash map.
//!
//! Differential's `reduce` works for any partially ordered time: for every key a timestamp
//! touches, it navigates the key's history in an input arrangement and in an output
//! arrangement, both of which it keeps and merges. The views here run at a totally ordered
//! time and only ever need a key's *current* values, so this operator keeps exactly that — the
//! key's values with their multiplicities (or, for [`Group`]s other than the plain one, what
//! the logic needs of them) and the output last emitted for it — and, once a timestamp is
//! complete, applies that timestamp's updates key by key and emits the key's output before and
//! after them as one [`Change`]. A sort by key, one hash lookup and one call of the logic per
//! touched key replace two trace navigations; no arrangement is kept or merged. The views'
//! outputs are served rows (`Arc`s), so the kept output shares its allocation with the served
//! state: it costs a pointer per key, and saves building every changed row twice.
//!
//! Emitting the pair, rather than a retraction and an insertion, is what lets the served state
//! apply a view's changes key by key without first consolidating them; the operators that add
//! up a view's rows read each pair as its difference (`assemble::deltas`).

use std::collections::{BTreeMap, HashMap};

use differential_dataflow::collection::AsCollection;
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;

use crate::Time;

/// The hasher of the operators' own maps (foldhash: fast, randomly seeded).
pub(super) type FastHash = foldhash::fast::RandomState;

/// Applies `diff` to `value`'s count among one key's `values` (sorted, none with a zero count).
pub(super) fn update<V: Ord>(values: &mut Vec<(V, isize)>, value: V, diff: isize) {
    match values.binary_search_by(|(v, _)| v.cmp(&value)) {
        Ok(at) => {
            values[at].1 += diff;
            if values[at].1 == 0 {
                values.remove(at);
            }
        }
        Err(at) => values.insert(at, (value, diff)),
    }
}

/// What a reduce keeps of one key: built from the key's updates, one at a time.
pub trait Group<V>: Default {
    /// Applies one update: `value` with its difference `diff`.
    fn apply(&mut self, value: V, diff: isize);

    /// Whether the group holds nothing, so that its key can be forgotten.
    fn is_empty(&self) -> bool;
}

/// The plain group: each distinct value with its multiplicity, sorted.
impl<V: Ord> Group<V> for Vec<(V, isize)> {
    fn apply(&mut self, value: V, diff: isize) {
        update(self, value, diff);
    }

    fn is_empty(&self) -> bool {
        <[_]>::is_empty(self)
    }
}

/// What the operator keeps of one key: its group and the output last emitted for it.
struct Kept<G, O> {
    group: G,
    output: Option<O>,
}

impl<G: Default, O> Default for Kept<G, O> {
    fn default() -> Self {
        Kept {
            group: G::default(),
            output: None,
        }
    }
}

/// Received updates of one timestamp not yet complete.
struct Pending<K, V> {
    capability: Capability<Time>,
    updates: Vec<((K, V), isize)>,
    /// The length of `updates` after it was last consolidated.
    consolidated: usize,
}

impl<K: Ord, V: Ord> Pending<K, V> {
    /// Consolidates the updates whenever their number has doubled, so that a large
    /// timestamp (a snapshot) holds about as many updates as it has distinct ones.
    fn compact(&mut self) {
        if self.updates.len() > 2 * self.consolidated + (1 << 16) {
            consolidate(&mut self.updates);
            self.consolidated = self.updates.len();
        }
    }
}

/// A key's output before and after one timestamp (they differ; `None`: no output).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Change<O> {
    pub old: Option<O>,
    pub new: Option<O>,
}

/// The changes of a [`reduce_total`]: every changed key once per timestamp, with diff 1.
pub type Changes<'s, K, O> = VecCollection<'s, Time, (K, Change<O>)>;

/// For every key, the output `logic` computes from the key's current values (each distinct
/// value once, with its multiplicity; never an empty list), or no row where it returns `None`;
/// emitted as each changed key's [`Change`] at every timestamp. Equivalent to differential's
/// `reduce` with at most one output per key, for a totally ordered time.
pub fn reduce_total<'s, K, V, O>(
    name: &str,
    input: VecCollection<'s, Time, (K, V)>,
    logic: impl Fn(&K, &[(V, isize)]) -> Option<O> + 'static,
) -> Changes<'s, K, O>
where
    K: ExchangeData + std::hash::Hash,
    V: ExchangeData,
    O: ExchangeData,
{
    reduce_groups(name, input, move |key, values: &Vec<(V, isize)>| {
        logic(key, values)
    })
}

/// For every key, the output `logic` computes from the key's [`Group`] `G` (never an empty
/// one), or no row where it returns `None`; emitted as each changed key's [`Change`] at every
/// timestamp. A timestamp's updates reach a group in no particular order (a value's count may
/// pass through zero); `logic` sees the group only once all of them are applied, and the
/// output it returned before is kept to be emitted as the old one.
pub fn reduce_groups<'s, K, V, G, O>(
    name: &str,
    input: VecCollection<'s, Time, (K, V)>,
    logic: impl Fn(&K, &G) -> Option<O> + 'static,
) -> Changes<'s, K, O>
where
    K: ExchangeData + std::hash::Hash,
    V: ExchangeData,
    G: Group<V> + 'static,
    O: ExchangeData,
{
    let by_key = Exchange::new(|((key, _), _, _): &((K, V), Time, isize)| key.hashed());
    input
        .inner
        .unary_frontier(by_key, name, move |_, _| {
            let mut kept: HashMap<K, Kept<G, O>, FastHash> = HashMap::default();
            let mut pending: BTreeMap<Time, Pending<K, V>> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (update, time, diff) in data.drain(..) {
                        pending
                            .entry(time)
                            .or_insert_with(|| Pending {
                                capability: capability.delayed(&time, 0),
                                updates: Vec::new(),
                                consolidated: 0,
                            })
                            .updates
                            .push((update, diff));
                    }
                    pending.values_mut().for_each(Pending::compact);
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (
                        time,
                        Pending {
                            capability,
                            mut updates,
                            ..
                        },
                    ) = entry.remove_entry();
                    let mut session = output.session(&capability);
                    // Sorted by key alone: a key's updates apply in any order, so they need
                    // not be consolidated, and the outputs leave in key order (what the served
                    // state's own sort by key merges cheaply).
                    updates.sort_unstable_by(|((a, _), _), ((b, _), _)| a.cmp(b));
                    let mut updates = updates.into_iter().peekable();
                    while let Some(((key, value), diff)) = updates.next() {
                        let entry = kept.entry(key.clone()).or_default();
                        entry.group.apply(value, diff);
                        while let Some(((_, value), diff)) =
                            updates.next_if(|((next, _), _)| *next == key)
                        {
                            entry.group.apply(value, diff);
                        }
                        let new = if entry.group.is_empty() {
                            None
                        } else {
                            logic(&key, &entry.group)
                        };
                        let changed = new != entry.output;
                        let old = if changed {
                            std::mem::replace(&mut entry.output, new.clone())
                        } else {
                            None
                        };
                        if entry.group.is_empty() {
                            kept.remove(&key);
                        }
                        if changed {
                            session.give(((key, Change { old, new }), time, 1));
                        }
                    }
                }
            }
        })
        .as_collection()
}
