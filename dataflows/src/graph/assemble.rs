//! Assembling a view row from its parent record and its children, in one reduce.
//!
//! The views' LEFT JOINs and their `COUNT`/`SUM` over children have one shape: a row exists
//! for every parent (job, desk, room, floor, building, Function), with zeros when no child
//! matches. Feeding parents and children into one reduce keyed by the parent's id gives exactly
//! that. [`assemble`] keeps each distinct child value once with its multiplicity, so its cost
//! depends on how many *distinct* children a parent has, not on how many people there are.
//! [`accumulate`] is for children that only add up ([`Sums`]): it keeps their total alone, so
//! each child update costs one addition; [`accumulate_feeding`] also hands the next level
//! what its keys add up to, and [`deltas`] turns any reduce's changed rows into such children
//! — either way one difference per key a timestamp changes, none where nothing adds up
//! differently.

use std::collections::HashMap;
use std::hash::Hash;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::{Data, ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::reduce::{
    reduce_groups_feeding, reduce_total, update, Change, Changes, FastHash, Group, Moved, Sums,
};
use crate::Time;

/// A value fed to an assembling reduce: the parent's own record, or one child's contribution.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact<P, C> {
    /// The parent row itself (exactly one while the parent exists). Boxed: a key holds one
    /// parent and many children, each of which would otherwise take the parent's size.
    Parent(Box<P>),
    /// A child contribution; identical contributions arrive as one value with a count.
    Child(C),
}

/// The children of one parent, as the reduce sees them.
pub struct Children<'a, P, C>(&'a [(Fact<P, C>, isize)]);

impl<'a, P, C> Children<'a, P, C> {
    /// Each distinct child contribution with its multiplicity.
    pub fn iter(&self) -> impl Iterator<Item = (&'a C, isize)> + '_ {
        self.0.iter().filter_map(|(fact, count)| match fact {
            Fact::Child(child) => Some((child, *count)),
            Fact::Parent(_) => None,
        })
    }
}

/// The parents and the children of the same keys, as facts for one reduce.
pub fn facts<'s, K: Data, P: Data, C: Data>(
    parents: VecCollection<'s, Time, (K, P)>,
    children: VecCollection<'s, Time, (K, C)>,
) -> VecCollection<'s, Time, (K, Fact<P, C>)> {
    parents
        .map(|(key, parent)| (key, Fact::Parent(Box::new(parent))))
        .concat(children.map(|(key, child)| (key, Fact::Child(child))))
}

/// One row per key that has a parent, built by `build` from the parent and its children; each
/// changed row as a [`Change`](super::reduce::Change).
pub fn assemble<'s, K, P, C, O>(
    name: &str,
    parents: VecCollection<'s, Time, (K, P)>,
    children: VecCollection<'s, Time, (K, C)>,
    build: impl Fn(&K, &P, Children<'_, P, C>) -> O + 'static,
) -> Changes<'s, K, O>
where
    K: ExchangeData + Hash,
    P: ExchangeData,
    C: ExchangeData,
    O: ExchangeData,
{
    reduce_total(
        name,
        facts(parents, children),
        move |key, facts: &[(Fact<P, C>, isize)]| {
            // Values are sorted: the parent (if any) comes first, then the children.
            match facts.first() {
                Some((Fact::Parent(parent), _)) => Some(build(key, parent, Children(&facts[1..]))),
                _ => None,
            }
        },
    )
}

/// What [`accumulate`] keeps of a key: its parent (with its multiplicity) and the total of its
/// children.
pub struct Totals<P, S> {
    parents: Vec<(Box<P>, isize)>,
    sums: S,
    /// Whether a parent fact arrived since the group was last marked.
    parent_touched: bool,
}

impl<P, S: Default> Default for Totals<P, S> {
    fn default() -> Self {
        Totals {
            parents: Vec::new(),
            sums: S::default(),
            parent_touched: false,
        }
    }
}

impl<P, S> Totals<P, S> {
    /// The parent and the total of the children, where there is a parent.
    fn parts(&self) -> Option<(&P, &S)> {
        let (parent, _) = self.parents.first()?;
        Some((parent, &self.sums))
    }
}

impl<P: Ord, S: Sums> Group<Fact<P, S>> for Totals<P, S> {
    fn apply(&mut self, fact: Fact<P, S>, diff: isize) {
        match fact {
            Fact::Parent(parent) => {
                self.parent_touched = true;
                update(&mut self.parents, parent, diff);
            }
            Fact::Child(child) => self.sums.add(&child, diff),
        }
    }

    fn is_empty(&self) -> bool {
        self.parents.is_empty() && self.sums == S::default()
    }

    type Mark = S;

    fn mark(&mut self) -> S {
        self.parent_touched = false;
        self.sums.clone()
    }

    /// A row shows its sums (see [`accumulate`]), so other sums under the same parent make
    /// another row; a parent fact may have changed the row or not.
    fn moved(&self, before: S) -> Moved {
        if self.parent_touched {
            Moved::Maybe
        } else if self.sums != before {
            Moved::Yes
        } else {
            Moved::No
        }
    }
}

/// One row per key that has a parent, built by `build` from the parent and the total of its
/// children; each changed row as a [`Change`]. `build` shows the sums (every field a key's
/// children can make nonzero), so that other sums make another row: a key whose sums changed
/// is not compared with its old row (debug builds check that they differ).
pub fn accumulate<'s, K, P, S, O>(
    name: &str,
    facts: VecCollection<'s, Time, (K, Fact<P, S>)>,
    build: impl Fn(&K, &P, &S) -> O + 'static,
) -> Changes<'s, K, O>
where
    K: ExchangeData + Hash,
    P: ExchangeData,
    S: ExchangeData + Sums,
    O: ExchangeData,
{
    let feeds_nothing = |_: &K, _: &P, _: &S| [((), ()); 0];
    accumulate_feeding(name, facts, build, feeds_nothing).0
}

/// [`accumulate`], whose rows also add up into the keys of another collection: `feeds` says
/// what a key with a parent adds to which keys, from the same parent and sums its row is
/// built from, and the second collection receives what each timestamp changes of that (see
/// [`reduce_groups_feeding`]).
pub fn accumulate_feeding<'s, K, P, S, O, K2, S2, I>(
    name: &str,
    facts: VecCollection<'s, Time, (K, Fact<P, S>)>,
    build: impl Fn(&K, &P, &S) -> O + 'static,
    feeds: impl Fn(&K, &P, &S) -> I + 'static,
) -> (Changes<'s, K, O>, VecCollection<'s, Time, (K2, S2)>)
where
    K: ExchangeData + Hash,
    P: ExchangeData,
    S: ExchangeData + Sums,
    O: ExchangeData,
    K2: Data + Hash,
    S2: Data + Sums,
    I: IntoIterator<Item = (K2, S2)>,
{
    reduce_groups_feeding(
        name,
        facts,
        move |key, totals: &Totals<P, S>| {
            let (parent, sums) = totals.parts()?;
            Some(build(key, parent, sums))
        },
        move |key, totals: &Totals<P, S>| {
            let fed = totals
                .parts()
                .map(|(parent, sums)| feeds(key, parent, sums));
            fed.into_iter().flatten()
        },
    )
}

/// What each changed row of `changes` adds to the keys `contributions` names (a row may add to
/// several), as children for [`accumulate`]: per key and timestamp, the new rows' contributions
/// less the old ones', and nothing where they cancel out.
///
/// The differences are combined per key before they leave: a timestamp that changes many rows
/// under one key (a snapshot's jobs of one Function, people moving between jobs of one
/// Function) sends that key one difference, not one per row, so the next reduce receives and
/// the exchange carries as many updates as there are distinct keys. Sums only add up, so
/// combining them is exact.
pub fn deltas<'s, K, O, K2, S, I>(
    changes: Changes<'s, K, O>,
    contributions: impl Fn(&O) -> I + 'static,
) -> VecCollection<'s, Time, (K2, S)>
where
    K: Data,
    O: Data,
    K2: Data + Hash,
    S: Data + Sums,
    I: IntoIterator<Item = (K2, S)>,
{
    changes
        .inner
        .unary(Pipeline, "Deltas", |_, _| {
            let mut combined: HashMap<(K2, Time), S, FastHash> = HashMap::default();
            move |input, output| {
                input.for_each_stamp(|capability, containers| {
                    for container in containers {
                        for ((_, Change { old, new }), time, diff) in container.drain(..) {
                            let rows = new.iter().map(|row| (row, diff));
                            for (row, times) in rows.chain(old.iter().map(|row| (row, -diff))) {
                                for (key, sums) in contributions(row) {
                                    combined.entry((key, time)).or_default().add(&sums, times);
                                }
                            }
                        }
                    }
                    let mut session = output.session(&capability);
                    for ((key, time), sums) in combined.drain() {
                        if sums != S::default() {
                            session.give(((key, sums), time, 1));
                        }
                    }
                });
            }
        })
        .as_collection()
}
