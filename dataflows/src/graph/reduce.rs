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
use std::hash::Hash;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::{Data, ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
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

/// Contributions that add up (a parent's children kept as their total, what a group adds to
/// the keys of another collection): combining them is exact.
pub trait Sums: Clone + Default + PartialEq {
    /// Adds `other`, `times` times (negative `times` subtracts).
    fn add(&mut self, other: &Self, times: isize);
}

/// Implements [`Sums`] for a struct of `i64` fields, adding field by field.
macro_rules! field_sums {
    ($sums:ident { $($field:ident),* $(,)? }) => {
        impl $crate::graph::reduce::Sums for $sums {
            fn add(&mut self, other: &Self, times: isize) {
                let times = times as i64;
                $(self.$field += other.$field * times;)*
            }
        }
    };
}
pub(super) use field_sums;

/// Nothing to add: what a reduce that feeds no other collection adds up.
impl Sums for () {
    fn add(&mut self, _: &Self, _: isize) {}
}

/// What a reduce keeps of one key: built from the key's updates, one at a time.
pub trait Group<V>: Default {
    /// Applies one update: `value` with its difference `diff`.
    fn apply(&mut self, value: V, diff: isize);

    /// Whether the group holds nothing, so that its key can be forgotten.
    fn is_empty(&self) -> bool;

    /// What the group notes of itself before a timestamp's updates reach it.
    type Mark;

    /// Notes the group before a timestamp's updates, for [`moved`](Group::moved).
    fn mark(&mut self) -> Self::Mark;

    /// Whether the output can differ from the one built before the updates since `mark`.
    fn moved(&self, mark: Self::Mark) -> Moved;
}

/// Whether a group's output can have changed over one timestamp's updates: what spares a
/// reduce building a row that did not change, or comparing one that surely did with the old
/// one (a cold read: the old row was built many timestamps ago).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moved {
    /// Nothing the output is built from changed: it is the one built before.
    No,
    /// What the output shows changed: it differs from the one built before, if both exist.
    Yes,
    /// It may or may not differ: it is built and compared with the one built before.
    Maybe,
}

/// The plain group: each distinct value with its multiplicity, sorted.
impl<V: Ord> Group<V> for Vec<(V, isize)> {
    fn apply(&mut self, value: V, diff: isize) {
        update(self, value, diff);
    }

    fn is_empty(&self) -> bool {
        <[_]>::is_empty(self)
    }

    type Mark = ();

    fn mark(&mut self) {}

    fn moved(&self, _: ()) -> Moved {
        Moved::Maybe
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
    /// For the changed outputs and for what the groups feed.
    capabilities: [Capability<Time>; 2],
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
    K: ExchangeData + Hash,
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
    K: ExchangeData + Hash,
    V: ExchangeData,
    G: Group<V> + 'static,
    O: ExchangeData,
{
    let feeds_nothing = |_: &K, _: &G| [((), ()); 0];
    reduce_groups_feeding(name, input, logic, feeds_nothing).0
}

/// [`reduce_groups`], whose groups also add up into the keys of another collection: `feeds`
/// says what a group adds to which key (nothing where it has no output), and the second
/// collection receives, per such key and timestamp, what the groups add after the timestamp
/// less what they added before it (nothing where that is zero). It is read from the groups,
/// not from their outputs, so neither the old output (cold by then) nor a copy of the
/// changes is read again by an operator downstream.
pub fn reduce_groups_feeding<'s, K, V, G, O, K2, S, I>(
    name: &str,
    input: VecCollection<'s, Time, (K, V)>,
    logic: impl Fn(&K, &G) -> Option<O> + 'static,
    feeds: impl Fn(&K, &G) -> I + 'static,
) -> (Changes<'s, K, O>, VecCollection<'s, Time, (K2, S)>)
where
    K: ExchangeData + Hash,
    V: ExchangeData,
    G: Group<V> + 'static,
    O: ExchangeData,
    K2: Data + Hash,
    S: Data + Sums,
    I: IntoIterator<Item = (K2, S)>,
{
    let by_key = Exchange::new(|((key, _), _, _): &((K, V), Time, isize)| key.hashed());
    let mut builder = OperatorBuilder::new(name.into(), input.inner.scope());
    let mut input = builder.new_input(input.inner, by_key);
    let (changes_output, changes) = builder.new_output();
    let (fed_output, fed) = builder.new_output();
    let mut changes_output = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(changes_output);
    let mut fed_output = OutputBuilder::<_, CapacityContainerBuilder<_>>::from(fed_output);
    let name = name.to_owned();
    builder.build(move |_| {
        let mut kept: HashMap<K, Kept<G, O>, FastHash> = HashMap::default();
        let mut pending: BTreeMap<Time, Pending<K, V>> = BTreeMap::new();
        let mut combined: HashMap<K2, S, FastHash> = HashMap::default();
        move |frontiers| {
            input.for_each(|capability, data| {
                for (update, time, diff) in data.drain(..) {
                    pending
                        .entry(time)
                        .or_insert_with(|| Pending {
                            capabilities: [0, 1].map(|port| capability.delayed(&time, port)),
                            updates: Vec::new(),
                            consolidated: 0,
                        })
                        .updates
                        .push((update, diff));
                }
                pending.values_mut().for_each(Pending::compact);
            });
            let mut changes_output = changes_output.activate();
            let mut fed_output = fed_output.activate();
            while let Some(entry) = pending.first_entry() {
                if frontiers[0].less_equal(entry.key()) {
                    break;
                }
                let (
                    time,
                    Pending {
                        capabilities: [for_changes, for_fed],
                        mut updates,
                        ..
                    },
                ) = entry.remove_entry();
                let mut session = changes_output.session_with_builder(&for_changes);
                // Sorted by key alone: a key's updates apply in any order, so they need
                // not be consolidated, and the outputs leave in key order (what the served
                // state's own sort by key merges cheaply).
                updates.sort_unstable_by(|((a, _), _), ((b, _), _)| a.cmp(b));
                let mut updates = updates.into_iter().peekable();
                while let Some(((key, value), diff)) = updates.next() {
                    let entry = kept.entry(key.clone()).or_default();
                    let mark = entry.group.mark();
                    for (to, sums) in feeds(&key, &entry.group) {
                        combined.entry(to).or_default().add(&sums, -1);
                    }
                    entry.group.apply(value, diff);
                    while let Some(((_, value), diff)) =
                        updates.next_if(|((next, _), _)| *next == key)
                    {
                        entry.group.apply(value, diff);
                    }
                    for (to, sums) in feeds(&key, &entry.group) {
                        combined.entry(to).or_default().add(&sums, 1);
                    }
                    let moved = entry.group.moved(mark);
                    let emptied = entry.group.is_empty();
                    let mut change = None;
                    if moved != Moved::No {
                        let new = if emptied {
                            None
                        } else {
                            logic(&key, &entry.group)
                        };
                        let changed = match moved {
                            Moved::Yes if new.is_some() && entry.output.is_some() => {
                                debug_assert!(new != entry.output, "{name}: moved, but equal");
                                true
                            }
                            _ => new != entry.output,
                        };
                        if changed {
                            let old = std::mem::replace(&mut entry.output, new.clone());
                            change = Some(Change { old, new });
                        }
                    }
                    if emptied {
                        kept.remove(&key);
                    }
                    if let Some(change) = change {
                        session.give(((key, change), time, 1));
                    }
                }
                drop(session);
                let mut session = fed_output.session_with_builder(&for_fed);
                for (to, sums) in combined.drain() {
                    if sums != S::default() {
                        session.give(((to, sums), time, 1));
                    }
                }
            }
        }
    });
    (changes.as_collection(), fed.as_collection())
}
