//! A private Kafka-protocol broker for one test: tansu with its SQLite storage, on a free
//! loopback port, in a directory of its own. `scripts/setup` builds the broker once into
//! `$TWINFLOW_TOOLS` (default `~/.cache/twinflow/tools`); `TWINFLOW_TANSU` may name another
//! binary. Stopped (SIGKILL) and removed when dropped.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use twinflow_ingest::TableId;

use crate::debezium::Message;

/// A running private broker.
pub struct PrivateBroker {
    dir: tempfile::TempDir,
    port: u16,
    broker: Option<Child>,
}

fn tansu() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os("TWINFLOW_TANSU") {
        return Ok(PathBuf::from(path));
    }
    let tools = std::env::var_os("TWINFLOW_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/twinflow/tools"))
        })
        .unwrap_or_default();
    let path = tools.join("tansu-0.6.0/bin/tansu");
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: run scripts/setup to build the tansu broker",
                path.display()
            ),
        ))
    }
}

impl PrivateBroker {
    /// Starts a broker on a free port.
    pub fn start() -> io::Result<Self> {
        let mut broker = PrivateBroker {
            dir: tempfile::Builder::new()
                .prefix("twinflow-kafka-")
                .tempdir()?,
            port: TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
            broker: None,
        };
        broker.launch()?;
        Ok(broker)
    }

    fn launch(&mut self) -> io::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu()?)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.broker = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other("the tansu broker did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts a broker with a topic `<prefix>.<database>.<table>` per catalog table, the
    /// people's topic on 3 partitions (the others on 1).
    pub fn with_table_topics(prefix: &str) -> io::Result<Self> {
        let broker = PrivateBroker::start()?;
        for table in TableId::ALL {
            let schema = table.schema();
            let partitions = if *table == TableId::People { 3 } else { 1 };
            broker.create_topic(
                &format!("{prefix}.{}.{}", schema.database, schema.name),
                partitions,
            )?;
        }
        Ok(broker)
    }

    /// `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: u32) -> io::Result<()> {
        let output = Command::new(tansu()?)
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "creating {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }

    /// Kills the broker (SIGKILL: in-flight requests are simply cut).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.broker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same storage and port.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Produces `messages` to `brokers` in order, up to 1000 in flight; fails on the first message
/// the broker does not acknowledge.
pub async fn produce(brokers: &str, messages: &[Message]) -> Result<(), KafkaError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()?;
    let mut pending = Vec::new();
    for message in messages {
        let mut record = FutureRecord::to(&message.topic).key(message.key.as_str());
        if let Some(value) = &message.value {
            record = record.payload(value.as_str());
        }
        // Enqueued now (`send` would enqueue only when first polled, one at a time).
        pending.push(producer.send_result(record).map_err(|(err, _)| err)?);
        if pending.len() >= 1000 {
            for delivery in pending.drain(..) {
                acknowledged(delivery).await?;
            }
        }
    }
    for delivery in pending {
        acknowledged(delivery).await?;
    }
    Ok(())
}

async fn acknowledged(delivery: DeliveryFuture) -> Result<(), KafkaError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((err, _))) => Err(err),
        Err(_) => Err(KafkaError::Canceled),
    }
}
