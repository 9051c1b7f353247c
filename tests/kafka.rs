//! Kafka end to end against a real Kafka-protocol broker (a private tansu): Debezium change
//! events of a generated org and its change stream, spread over one topic per table, through
//! the Kafka source into the engine; re-delivered events and a broker SIGKILL mid-stream;
//! every view must equal the oracle's recomputation. The view sink's topics, read from the
//! start, must rebuild the served views.

mod common;

use common::Engine;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use twinflow_connectors::{
    read_view_topic, run_kafka_source, ConnectorStatus, KafkaSink, KafkaSinkConfig,
    KafkaSourceConfig,
};
use twinflow_controller::sink::run_view_sink;
use twinflow_controller::status::applied_positions;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_ingest::TableId;
use twinflow_oracle::debezium::{Encoding, Message};
use twinflow_oracle::kafka::PrivateBroker;
use twinflow_views::{Filter, ViewId};

async fn produce(brokers: &str, messages: &[Message]) {
    twinflow_oracle::kafka::produce(brokers, messages)
        .await
        .expect("delivered");
}

/// A broker with a topic per catalog table (people on 3 partitions).
fn broker_with_topics() -> PrivateBroker {
    PrivateBroker::with_table_topics("twin").expect("a private broker with topics")
}

async fn until_stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The Kafka source for prefix `twin`, feeding `pipeline`, until `stopped`.
fn start_source(
    brokers: String,
    pipeline: &Pipeline,
    stopped: watch::Receiver<bool>,
) -> (tokio::task::JoinHandle<()>, Arc<ConnectorStatus>) {
    let source = KafkaSourceConfig {
        decimals: DecimalMode::Precise,
        ..KafkaSourceConfig::new(brokers, "twin")
    };
    let status = Arc::new(ConnectorStatus::new(source.source_name(), "kafka"));
    let applied = applied_positions(pipeline.state(), source.source_name());
    let task = tokio::spawn(run_kafka_source(
        source,
        None,
        pipeline.sources(),
        pipeline.dead_letters(),
        status.clone(),
        applied,
        until_stopped(stopped),
    ));
    (task, status)
}

/// Stops the source, then the pipeline once everything the source sent is applied.
async fn stop_source_and_pipeline(
    stop: watch::Sender<bool>,
    source: tokio::task::JoinHandle<()>,
    pipeline: Pipeline,
) {
    stop.send_replace(true);
    source.await.expect("source");
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .expect("shutdown");
}

/// Waits until the source has read something and then nothing more for a second; the changes
/// it has read.
async fn settled(status: &ConnectorStatus) -> u64 {
    // Generous: the broker and the other tests share the two cores.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut changes = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = status.report().changes;
        if now > 0 && now == changes {
            return changes;
        }
        changes = now;
        assert!(
            Instant::now() < deadline,
            "the source never settled: {:?}",
            status.report()
        );
    }
}

/// Waits until every view equals the oracle, then checks it stays so for a while (a
/// re-delivered tail must not take rows back in time).
async fn wait_for_the_oracle(
    state: &twinflow_views::ServedState,
    capture: &common::DebeziumCapture,
    status: &ConnectorStatus,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let problems = common::oracle_differences(state, &capture.tables);
        if problems.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "views differ from the oracle: {}\nsource: {:?}",
            problems.join("\n"),
            status.report()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let problems = common::oracle_differences(state, &capture.tables);
    assert!(problems.is_empty(), "later: {}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debezium_topics_feed_the_views_and_the_sink_rebuilds_them() {
    let mut broker = broker_with_topics();
    let capture = common::debezium_capture(Encoding::default(), 23, 2000, 600);
    let half = capture.messages.len() / 2;
    produce(&broker.brokers(), &capture.messages[..half]).await;

    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let state = pipeline.state();
    let (stop, stopped) = watch::channel(false);
    let (source_task, status) = start_source(broker.brokers(), &pipeline, stopped.clone());
    // An earlier run left a row whose key the views do not have: the sink tombstones it.
    broker.create_topic("out.views.staffing", 1).expect("topic");
    let stale = Message {
        topic: "out.views.staffing".into(),
        key: r#"{"company_id":-1,"job_id":-1}"#.into(),
        value: Some(r#"{"company_id":-1,"job_id":-1}"#.into()),
    };
    produce(&broker.brokers(), &[stale]).await;
    let views: Vec<&str> = ViewId::ALL.iter().map(|v| v.name()).collect();
    let sink = Arc::new(
        KafkaSink::new(
            KafkaSinkConfig {
                brokers: broker.brokers(),
                prefix: "out".into(),
            },
            &views,
        )
        .await
        .expect("the sink starts"),
    );
    let mut sinks = Vec::new();
    for view in ViewId::ALL {
        let (sink, state, stop) = (sink.clone(), state.clone(), until_stopped(stopped.clone()));
        sinks.push(tokio::spawn(async move {
            run_view_sink(state, &sink, view, stop).await
        }));
    }

    // The broker dies mid-stream (SIGKILL) and comes back; the rest of the stream follows, and
    // then a re-delivery of transactions already applied.
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart().expect("the broker restarts");
    produce(&broker.brokers(), &capture.messages[half..]).await;
    produce(&broker.brokers(), &capture.redelivery(200, 50)).await;

    wait_for_the_oracle(&state, &capture, &status).await;
    assert_eq!(pipeline.dead_letters().total(), 0);

    // The consumer group holds the applied offsets: every partition read to its end.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .set("group.id", "twinflow-twin")
        .create()
        .expect("a consumer");
    let mut partitions = TopicPartitionList::new();
    for table in TableId::ALL {
        let schema = table.schema();
        let topic = format!("twin.{}.{}", schema.database, schema.name);
        let count = if *table == TableId::People { 3 } else { 1 };
        for partition in 0..count {
            partitions.add_partition(&topic, partition);
        }
    }
    let committed = group
        .committed_offsets(partitions, Duration::from_secs(10))
        .expect("committed offsets");
    for element in committed.elements() {
        let (_, high) = group
            .fetch_watermarks(
                element.topic(),
                element.partition(),
                Duration::from_secs(10),
            )
            .expect("watermarks");
        assert_eq!(
            element.offset(),
            Offset::Offset(high),
            "{}[{}]",
            element.topic(),
            element.partition()
        );
    }

    // The sink's topics rebuild every served view.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let snapshot = state.snapshot();
    for view in ViewId::ALL {
        let schema = twinflow_dataflows::schema(view);
        let served: BTreeMap<String, String> = snapshot
            .scan(view, &Filter::default(), None)
            .map(|(_, row)| {
                let key = schema.key_json(&schema.key_of(&row)).to_string();
                (key, schema.row_json(&row).to_string())
            })
            .collect();
        let topic = format!("out.views.{view}");
        let rebuilt = read_view_topic(&broker.brokers(), &topic, Duration::from_secs(30))
            .expect("the view topic");
        assert_eq!(rebuilt, served, "{view}");
    }

    stop.send_replace(true);
    source_task.await.expect("source");
    for sink in sinks {
        sink.await.expect("sink");
    }
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .expect("shutdown");
}

/// Debezium's transaction metadata topic for `capture`: BEGIN and END markers per streaming
/// transaction, each END with the transaction's change events per table.
fn transaction_markers(capture: &common::DebeziumCapture) -> Vec<Message> {
    let snapshot = capture.messages.len() - capture.per_transaction.iter().sum::<usize>();
    let mut markers = Vec::new();
    let mut start = snapshot;
    for (i, count) in capture.per_transaction.iter().enumerate() {
        let mut per_table: BTreeMap<String, u64> = BTreeMap::new();
        for message in capture.messages[start..start + count]
            .iter()
            .filter(|m| m.value.is_some())
        {
            let collection = message.topic.trim_start_matches("twin.").to_string();
            *per_table.entry(collection).or_default() += 1;
        }
        start += count;
        let collections: Vec<serde_json::Value> = per_table
            .iter()
            .map(|(c, n)| serde_json::json!({"data_collection": c, "event_count": n}))
            .collect();
        let id = format!("0-1-{}", i + 1);
        let total: u64 = per_table.values().sum();
        for marker in [
            serde_json::json!({"status": "BEGIN", "id": id, "event_count": null, "data_collections": null}),
            serde_json::json!({"status": "END", "id": id, "event_count": total, "data_collections": collections}),
        ] {
            markers.push(Message {
                topic: "twin.transaction".into(),
                key: serde_json::json!({"id": id}).to_string(),
                value: Some(marker.to_string()),
            });
        }
    }
    markers
}

/// The engine (the real binary, with a data directory) killed with SIGKILL at random moments
/// while change events keep arriving: every restart resumes from its checkpoint's offsets
/// rather than the topics' beginnings, and in the end every view equals the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_killed_at_random_moments_resumes_from_its_checkpointed_offsets() {
    let broker = broker_with_topics();
    let brokers = broker.brokers();
    let capture = common::debezium_capture(Encoding::default(), 31, 1000, 800);
    // With the transaction metadata topic, so that a transaction whose events on another
    // partition are not yet written is held back rather than released in parts (without it,
    // a transaction can be released before all its partitions have their events).
    broker.create_topic("twin.transaction", 1).expect("topic");
    produce(&brokers, &transaction_markers(&capture)).await;
    let snapshot = capture.messages.len() - capture.per_transaction.iter().sum::<usize>();
    produce(&brokers, &capture.messages[..snapshot]).await;
    let mut produced = snapshot as u64;
    let data = tempfile::tempdir().expect("a data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path").to_string();
    let args = durable_engine_args(&brokers, &data_dir);
    let mut engine = Engine::start_with(&args);
    caught_up_and_checkpointed(&engine, produced);

    let seed = 0x7a45_u64 ^ u64::from(std::process::id());
    println!("kill moments from seed {seed}");
    let mut dice = seed | 1;
    let mut roll = |n: u64| {
        dice ^= dice << 13;
        dice ^= dice >> 7;
        dice ^= dice << 17;
        dice % n
    };
    let streamed = &capture.messages[snapshot..];
    for (round, chunk) in streamed.chunks(streamed.len().div_ceil(5)).enumerate() {
        let producing = {
            let (brokers, chunk) = (brokers.clone(), chunk.to_vec());
            tokio::spawn(async move { produce(&brokers, &chunk).await })
        };
        tokio::time::sleep(Duration::from_millis(50 + roll(1500))).await;
        engine.kill();
        producing.await.expect("produced");
        let durable = produced;
        produced += chunk.len() as u64;
        engine = Engine::start_with(&args);
        let status = engine.get("/v1/status");
        assert!(
            status["checkpoints"]["restored"]["ts"].is_u64(),
            "round {round}: started from a checkpoint: {status}"
        );
        let restored = applied_messages(&status);
        assert!(
            restored >= durable,
            "round {round}: restored at {restored} messages, but {durable} were checkpointed: {status}"
        );
        let read = caught_up_and_checkpointed(&engine, produced);
        assert!(
            read <= produced - restored,
            "round {round}: read {read} messages after restoring at {restored} of {produced}"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let problems =
            common::http_oracle_differences(engine.addr(), Some(&engine.token), &capture.tables);
        if problems.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "views differ from the oracle: {}\n{}",
            problems.join("\n"),
            engine.get("/v1/status")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `twinflow run` on the broker's `twin` topics with a data directory, checkpointing every
/// 0.5 s.
fn durable_engine_args<'a>(brokers: &'a str, data_dir: &'a str) -> [&'a str; 8] {
    [
        "--kafka",
        brokers,
        "--kafka-prefix",
        "twin",
        "--data-dir",
        data_dir,
        "--checkpoint-interval",
        "0.5",
    ]
}

/// Messages below the applied position's offsets, over all partitions.
fn applied_messages(status: &serde_json::Value) -> u64 {
    status["sources"][0]["position"]["offsets"]
        .as_array()
        .map_or(0, |offsets| {
            offsets.iter().filter_map(|o| o[2].as_u64()).sum()
        })
}

/// Waits until `engine` has applied `produced` messages and written a checkpoint after that;
/// returns how many change events its connector read in this run.
fn caught_up_and_checkpointed(engine: &Engine, produced: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut applied_at = None;
    loop {
        let status = engine.get("/v1/status");
        let as_of = status["as_of"].as_u64().unwrap_or(0);
        if applied_at.is_none() && applied_messages(&status) >= produced {
            applied_at = Some(as_of);
        }
        let checkpointed = status["checkpoints"]["last"]["ts"].as_u64();
        if applied_at.is_some_and(|at| checkpointed >= Some(at)) {
            return status["connectors"][0]["changes"].as_u64().unwrap_or(0);
        }
        assert!(
            Instant::now() < deadline,
            "not caught up with {produced} messages and checkpointed: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Debezium's transaction metadata topic (`provide.transaction.metadata=true`), and messages
/// without schemas: a transaction is released when its END marker says all its events are
/// there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_transaction_metadata_topic_transactions_close_on_their_end_markers() {
    let broker = broker_with_topics();
    broker.create_topic("twin.transaction", 1).expect("topic");
    // Without schemas this time (the JSON converter's schemas.enable=false).
    let encoding = Encoding {
        schemas: false,
        ..Encoding::default()
    };
    let capture = common::debezium_capture(encoding, 29, 600, 300);
    let markers = transaction_markers(&capture);
    // The markers first, then the data: transactions are held until all their events arrive.
    produce(&broker.brokers(), &markers).await;
    produce(&broker.brokers(), &capture.messages).await;

    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let state = pipeline.state();
    let (stop, stopped) = watch::channel(false);
    let (source_task, status) = start_source(broker.brokers(), &pipeline, stopped);
    wait_for_the_oracle(&state, &capture, &status).await;
    assert_eq!(pipeline.dead_letters().total(), 0);
    stop_source_and_pipeline(stop, source_task, pipeline).await;
}

/// With the transaction metadata topic, a transaction one of whose events is dead-lettered
/// (a value that does not fit its column) is still released when its END marker is read: the
/// dead letter counts towards the END total, the source goes on, and the views equal the
/// oracle without that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_event_inside_a_transaction_does_not_stall_the_source() {
    use twinflow_ingest::RowChange;
    use twinflow_oracle::debezium::{encode, EventSource};
    use twinflow_oracle::rows;

    let broker = broker_with_topics();
    broker.create_topic("twin.transaction", 1).expect("topic");
    let encoding = Encoding {
        schemas: false,
        ..Encoding::default()
    };
    let mut capture = common::debezium_capture(encoding, 31, 600, 200);
    let mut markers = transaction_markers(&capture);
    // One more transaction: two new buildings, the second with a company_id that is not an
    // integer. The oracle takes the first only.
    let id = "0-1-9999";
    let valid = RowChange::insert(TableId::Building, rows::building(990_001, 1, "Annex"));
    let broken = RowChange::insert(TableId::Building, rows::building(990_002, 1, "Broken"));
    let mut last = Vec::new();
    for (row, change) in [&valid, &broken].into_iter().enumerate() {
        let source = EventSource {
            server_name: "twin",
            file: "binlog.000003",
            pos: 4,
            row: row as u32,
            gtid: Some(id),
            ts_ms: 1_800_000_000_000,
            snapshot: false,
            transaction_id: Some(id),
            total_order: row as u64 + 1,
            data_collection_order: row as u64 + 1,
        };
        last.extend(encode(change, &source, encoding));
    }
    let mut event: serde_json::Value =
        serde_json::from_str(last[1].value.as_deref().expect("an event")).expect("JSON");
    event["after"]["company_id"] = serde_json::json!("not a number");
    last[1].value = Some(event.to_string());
    capture.tables.apply(&valid);
    for status in ["BEGIN", "END"] {
        let collections = serde_json::json!([
            {"data_collection": "twin_infra.building", "event_count": 2},
            {"data_collection": "other_db.audit", "event_count": 5},
        ]);
        markers.push(Message {
            topic: "twin.transaction".into(),
            key: serde_json::json!({"id": id}).to_string(),
            value: Some(
                serde_json::json!({"status": status, "id": id, "event_count": 7,
                    "data_collections": collections})
                .to_string(),
            ),
        });
    }
    produce(&broker.brokers(), &markers).await;
    produce(&broker.brokers(), &capture.messages).await;
    produce(&broker.brokers(), &last).await;

    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let state = pipeline.state();
    let (stop, stopped) = watch::channel(false);
    let (source_task, status) = start_source(broker.brokers(), &pipeline, stopped);
    wait_for_the_oracle(&state, &capture, &status).await;
    let letters = pipeline.dead_letters().recent();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0].reason.contains("company_id") && !letters[0].reason.contains("not a number"),
        "{:?}",
        letters[0]
    );
    assert_eq!(status.report().details["overdue_transactions"], 0);
    stop_source_and_pipeline(stop, source_task, pipeline).await;
}

/// Without the transaction metadata topic, one topic's part of the stream is written late
/// (as when Debezium's producer lags on one partition): the transactions already released
/// without it get their late events afterwards, applied rather than taken for re-deliveries,
/// and the views end equal to the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_late_to_one_topic_are_applied_not_skipped() {
    let broker = broker_with_topics();
    let capture = common::debezium_capture(Encoding::default(), 37, 600, 300);
    let snapshot = capture.messages.len() - capture.per_transaction.iter().sum::<usize>();
    // The first streaming transaction, from the middle on, that writes to two topics: its
    // second topic, from that transaction on, is held back.
    let mut start = snapshot;
    let mut held_topic = None;
    for (i, &count) in capture.per_transaction.iter().enumerate() {
        let messages = &capture.messages[start..start + count];
        if i >= capture.per_transaction.len() / 2 {
            if let Some(other) = messages.iter().find(|m| m.topic != messages[0].topic) {
                held_topic = Some(other.topic.clone());
                break;
            }
        }
        start += count;
    }
    let held_topic = held_topic.expect("a transaction over two topics");
    let (mut on_time, mut late) = (Vec::new(), Vec::new());
    for (i, message) in capture.messages.iter().enumerate() {
        if i < start || message.topic != held_topic {
            on_time.push(message.clone());
        } else {
            late.push(message.clone());
        }
    }
    produce(&broker.brokers(), &on_time).await;

    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let state = pipeline.state();
    let (stop, stopped) = watch::channel(false);
    let (source_task, status) = start_source(broker.brokers(), &pipeline, stopped);
    // Everything on time is read and released.
    settled(&status).await;
    produce(&broker.brokers(), &late).await;
    wait_for_the_oracle(&state, &capture, &status).await;
    assert_eq!(pipeline.dead_letters().total(), 0);
    let details = status.report().details;
    assert!(
        details["late_events"].as_u64() >= Some(1),
        "late events counted: {details}"
    );
    stop_source_and_pipeline(stop, source_task, pipeline).await;
}

/// Paused, the Kafka source reads nothing of what is produced meanwhile; resumed, it goes on
/// from the same offsets and the views equal the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_kafka_source_reads_nothing_until_resumed() {
    let broker = broker_with_topics();
    let capture = common::debezium_capture(Encoding::default(), 41, 500, 300);
    let half = capture.messages.len() - capture.per_transaction.iter().sum::<usize>() / 2;
    produce(&broker.brokers(), &capture.messages[..half]).await;

    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let state = pipeline.state();
    let (stop, stopped) = watch::channel(false);
    let (source_task, status) = start_source(broker.brokers(), &pipeline, stopped);
    let changes = settled(&status).await;
    status.set_paused(true);
    produce(&broker.brokers(), &capture.messages[half..]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = status.report();
    assert_eq!(
        report.changes, changes,
        "nothing read while paused: {report:?}"
    );
    assert_eq!(
        serde_json::to_value(report.state).expect("a state"),
        "paused"
    );
    status.set_paused(false);
    wait_for_the_oracle(&state, &capture, &status).await;
    assert!(status.report().changes > changes);
    stop_source_and_pipeline(stop, source_task, pipeline).await;
}

/// Debezium re-emits the tail of the stream (as it does after its own restart) while the
/// engine is down: the restarted engine, resuming from its checkpoint's offsets, recognises
/// the re-emitted events as re-deliveries — it re-read the events before those offsets to
/// remember them — instead of applying old row images again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_re_emitted_across_a_restart_are_recognised_as_re_deliveries() {
    let broker = broker_with_topics();
    let brokers = broker.brokers();
    let capture = common::debezium_capture(Encoding::default(), 43, 600, 300);
    produce(&brokers, &capture.messages).await;
    let mut produced = capture.messages.len() as u64;
    let data = tempfile::tempdir().expect("a data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path").to_string();
    let args = durable_engine_args(&brokers, &data_dir);
    let mut engine = Engine::start_with(&args);
    caught_up_and_checkpointed(&engine, produced);
    engine.kill();

    let tail: usize = capture.per_transaction.iter().rev().take(40).sum();
    let re_emitted = &capture.messages[capture.messages.len() - tail..];
    produce(&brokers, re_emitted).await;
    produced += re_emitted.len() as u64;
    let events = re_emitted.iter().filter(|m| m.value.is_some()).count() as u64;

    let engine = Engine::start_with(&args);
    caught_up_and_checkpointed(&engine, produced);
    // The details are reported every so often: wait for the last count.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = engine.get("/v1/status");
        let connector = &status["connectors"][0];
        if connector["details"]["duplicate_events"].as_u64() == Some(events) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "not every re-emitted event ({events}) skipped: {connector}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        status["connectors"][0]["changes"], 0,
        "nothing applied again: {status}"
    );
    let problems =
        common::http_oracle_differences(engine.addr(), Some(&engine.token), &capture.tables);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
