//! The MySQL source against a real MariaDB: the initial snapshot taken while a writer inserts
//! rows delivers every row exactly once — through the snapshot or through the binlog.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::sync::oneshot;
use twinflow_connectors::{
    run_mysql_source, transaction_queue, ConnectorState, ConnectorStatus, MySqlConfig,
};
use twinflow_ingest::{DeadLetterLog, TableId, Value};
use twinflow_oracle::mariadb::PrivateMariaDb;

const PRELOADED: i64 = 20_000;
const WRITTEN: i64 = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_under_concurrent_writes_delivers_every_row_once() {
    let db = PrivateMariaDb::start().expect("a private MariaDB");
    db.source(twinflow_oracle::contract::schema_sql())
        .expect("schema.sql loads");
    db.sql(&format!(
        "INSERT INTO twin_infra.floor (id, building_id, level, name) \
         SELECT seq, 1, 0, CONCAT('f', seq) FROM twin_infra.seq_1_to_{PRELOADED}"
    ))
    .expect("preload");

    // One insert per transaction, running before, during and after the snapshot.
    let url = db.url();
    let (started_tx, started) = oneshot::channel();
    let writer = tokio::spawn(async move {
        let mut conn = mysql_async::Conn::from_url(url).await.expect("connects");
        let mut started_tx = Some(started_tx);
        for id in PRELOADED + 1..=PRELOADED + WRITTEN {
            conn.exec_drop(
                "INSERT INTO twin_infra.floor (id, building_id, level, name) VALUES (?, 1, 1, 'w')",
                (id,),
            )
            .await
            .expect("insert");
            if id == PRELOADED + WRITTEN / 4 {
                if let Some(tx) = started_tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    started.await.expect("the writer is under way");

    let (tx, mut rx) = transaction_queue(16_384);
    let status = Arc::new(ConnectorStatus::new("db", "mysql"));
    let (stop, stopped) = oneshot::channel::<()>();
    let source = tokio::spawn(run_mysql_source(
        MySqlConfig::new(db.url()),
        None,
        tx,
        Arc::new(DeadLetterLog::default()),
        status.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
    let (mut in_snapshot, mut in_binlog) = (0, 0);
    let mut snapshot_done = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    // Read until every row has arrived, then a little longer to catch any doubles.
    let mut quiet_until: Option<Instant> = None;
    loop {
        let wait = quiet_until.map_or(Duration::from_secs(1), |t| {
            t.saturating_duration_since(Instant::now())
        });
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(txn)) => {
                for change in &txn.changes {
                    assert_eq!(change.table, TableId::Floor);
                    assert!(change.before.is_none(), "only inserts: {change:?}");
                    let id = change.key().expect("an id");
                    *seen.entry(id).or_default() += 1;
                    if id > PRELOADED {
                        if snapshot_done {
                            in_binlog += 1;
                        } else {
                            in_snapshot += 1;
                        }
                    }
                }
                if !txn.more_follows {
                    snapshot_done = true;
                }
            }
            Ok(None) => panic!("the source stopped: {:?}", status.report()),
            Err(_) if quiet_until.is_some() => break,
            Err(_) => {}
        }
        if quiet_until.is_none() && seen.len() as i64 == PRELOADED + WRITTEN {
            quiet_until = Some(Instant::now() + Duration::from_millis(1500));
        }
        assert!(
            Instant::now() < deadline,
            "only {} rows arrived: {:?}",
            seen.len(),
            status.report()
        );
    }
    writer.await.expect("writer");
    println!("writer rows: {in_snapshot} in the snapshot, {in_binlog} from the binlog");
    let doubled: Vec<_> = seen.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        doubled.is_empty(),
        "rows delivered more than once: {doubled:?}"
    );
    assert_eq!(seen.len() as i64, PRELOADED + WRITTEN);
    assert!(
        in_snapshot > 0 && in_binlog > 0,
        "the writes overlapped the snapshot: {in_snapshot} in it, {in_binlog} after"
    );
    assert_eq!(status.report().state, ConnectorState::Streaming);
    let name = db
        .sql("SELECT name FROM twin_infra.floor WHERE id = 1")
        .expect("query");
    assert_eq!(Value::text(name.trim()), Value::text("f1"));
    let _ = stop.send(());
    source.await.expect("the source stops");
    assert_eq!(status.report().state, ConnectorState::Stopped);
}
