//! Assembling a view row from its parent record and its children, in one reduce
//! ([`reduce_total`]).
//!
//! The views' LEFT JOINs and their `COUNT`/`SUM` over children have one shape: a row exists
//! for every parent (job, desk, room, floor, building, Function), with zeros when no child
//! matches. Feeding parents and children into one reduce keyed by the parent's id gives exactly
//! that: the reduce sees each distinct child value once with its multiplicity, so its cost
//! depends on how many *distinct* children a parent has, not on how many people there are.

use differential_dataflow::{ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};

use super::reduce::{reduce_total, Changes};
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

    /// The sum of the multiplicities: how many children there are.
    pub fn count(&self) -> i64 {
        self.iter().map(|(_, n)| n as i64).sum()
    }

    /// The sum of `value(child)` over all children, each counted with its multiplicity.
    pub fn sum(&self, value: impl Fn(&C) -> i64) -> i64 {
        self.iter().map(|(child, n)| value(child) * n as i64).sum()
    }
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
    K: ExchangeData + std::hash::Hash,
    P: ExchangeData,
    C: ExchangeData,
    O: ExchangeData,
{
    let facts = parents
        .map(|(key, parent)| (key, Fact::Parent(Box::new(parent))))
        .concat(children.map(|(key, child)| (key, Fact::Child(child))));
    reduce_total(name, facts, move |key, facts: &[(Fact<P, C>, isize)]| {
        // Values are sorted: the parent (if any) comes first, then the children.
        match facts.first() {
            Some((Fact::Parent(parent), _)) => Some(build(key, parent, Children(&facts[1..]))),
            _ => None,
        }
    })
}
