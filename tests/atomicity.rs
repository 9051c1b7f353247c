//! A transaction moving people between rooms is never half visible: at no `as_of` is anybody in
//! both rooms or in neither, neither in the snapshots readers load nor in the deltas
//! subscribers receive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::txn;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::{RowChange, TableId};
use twinflow_oracle::rows;
use twinflow_views::{Datum, Filter, ViewId};

const PEOPLE: i64 = 40;
const ASSIGNED: usize = 9; // occupancy.assigned

fn total_assigned(rows: impl Iterator<Item = twinflow_views::Row>) -> i64 {
    rows.map(|row| row[ASSIGNED].as_int().unwrap_or_default())
        .sum()
}

#[test]
fn moves_between_rooms_are_atomic() {
    // Small timestamps: the reclocker must still never split a transaction.
    let config = PipelineConfig {
        max_changes_per_timestamp: 3,
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(config).expect("pipeline starts");
    let sources = pipeline.sources();
    let state = pipeline.state();

    let mut org = vec![
        RowChange::insert(TableId::Company, rows::company(1, false)),
        RowChange::insert(TableId::Building, rows::building(1, 1, "HQ")),
        RowChange::insert(TableId::Floor, rows::floor(1, 1, 0, "ground")),
        RowChange::insert(TableId::Room, rows::room(1, 1, "east", "office", 50)),
        RowChange::insert(TableId::Room, rows::room(2, 1, "west", "office", 50)),
        RowChange::insert(TableId::Desk, rows::desk(1, 1, "E1", 50, 0.0, 0.0)),
        RowChange::insert(TableId::Desk, rows::desk(2, 2, "W1", 50, 9.0, 0.0)),
    ];
    let mut desk_of: Vec<i64> = (0..PEOPLE).map(|p| 1 + p % 2).collect();
    for (p, desk) in desk_of.iter().enumerate() {
        org.push(RowChange::insert(
            TableId::People,
            rows::person(p as i64 + 1, 1, None, Some(*desk), "active"),
        ));
    }
    sources
        .blocking_send(txn("test", 0, org))
        .expect("pipeline accepts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while state.snapshot().len(ViewId::Occupancy) < 2 {
        assert!(Instant::now() < deadline, "the org never appeared");
        std::thread::sleep(Duration::from_millis(1));
    }

    // A reader that checks every snapshot it can load while the moves stream in.
    let subscription = state.subscribe(ViewId::Occupancy, None);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let state = state.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut checked = 0u64;
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                let snapshot = state.snapshot();
                if snapshot.as_of != last {
                    last = snapshot.as_of;
                    let all = Filter::default();
                    let rows = snapshot.scan(ViewId::Occupancy, &all, None).map(|(_, r)| r);
                    assert_eq!(
                        total_assigned(rows),
                        PEOPLE,
                        "snapshot at as_of {} shows a half-applied move",
                        snapshot.as_of
                    );
                    checked += 1;
                }
            }
            checked
        })
    };

    // Each transaction moves two people to the other room, as four changes: off the desk, then
    // onto the other one.
    let moves = 400u64;
    for seq in 1..=moves {
        let mut changes = Vec::new();
        for p in [(seq * 7) % PEOPLE as u64, (seq * 13 + 1) % PEOPLE as u64] {
            let p = p as usize;
            let id = p as i64 + 1;
            let from = desk_of[p];
            let to = 3 - from;
            let at = |desk| rows::person(id, 1, None, desk, "active");
            changes.push(RowChange::update(TableId::People, at(Some(from)), at(None)));
            changes.push(RowChange::update(TableId::People, at(None), at(Some(to))));
            desk_of[p] = to;
        }
        sources
            .blocking_send(txn("test", seq, changes))
            .expect("pipeline accepts");
    }
    drop(sources);
    pipeline.shutdown();
    done.store(true, Ordering::Relaxed);
    let checked = reader.join().expect("reader found no half-applied move");

    // The subscriber's view, rebuilt from its snapshot and deltas, is whole at every as_of.
    let mut rooms: std::collections::BTreeMap<twinflow_views::Key, twinflow_views::Row> =
        subscription
            .snapshot
            .scan(ViewId::Occupancy, &Filter::default(), None)
            .map(|((_, key), row)| (key, row))
            .collect();
    let mut receiver = subscription.receiver;
    let mut deltas = 0;
    let mut last_as_of = subscription.snapshot.as_of;
    while let Ok(delta) = receiver.try_recv() {
        // A commit publishes its snapshot before it broadcasts its delta, so the first delta
        // received may be one the subscription's snapshot already holds (the receiver's
        // documented contract: skip those).
        if delta.as_of <= subscription.snapshot.as_of {
            continue;
        }
        assert!(delta.as_of > last_as_of, "deltas arrive in as_of order");
        last_as_of = delta.as_of;
        for change in &delta.changes {
            match &change.new {
                Some(row) => rooms.insert(change.key.clone(), row.clone()),
                None => rooms.remove(&change.key),
            };
        }
        assert_eq!(
            total_assigned(rooms.values().cloned()),
            PEOPLE,
            "delta at as_of {} is half a move",
            delta.as_of
        );
        deltas += 1;
    }
    assert!(deltas > 10, "only {deltas} deltas observed");
    assert!(checked > 0);
    // And the final state is the one the moves lead to.
    let in_east = desk_of.iter().filter(|d| **d == 1).count() as i64;
    let east = rooms
        .values()
        .find(|r| r[3] == Datum::Int(1))
        .expect("room 1 is served");
    assert_eq!(east[ASSIGNED], Datum::Int(in_east));
}
