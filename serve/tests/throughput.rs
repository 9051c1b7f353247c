//! Read throughput, client and server on the same machine. Not a correctness test:
//! `cargo test --release -p twinflow-serve --test throughput -- --ignored --nocapture`

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{room, Server};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use twinflow_views::StateConfig;

const CONNECTIONS: usize = 8;
const RUN: Duration = Duration::from_secs(3);

/// Requests `path(i)` on keep-alive connections for [`RUN`]; returns (requests/s, MB/s).
async fn load(server: &Server, path: impl Fn(u64) -> String + Send + Sync + 'static) -> (f64, f64) {
    let path = Arc::new(path);
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (path, requests, bytes, addr) =
            (path.clone(), requests.clone(), bytes.clone(), server.addr);
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let i = requests.fetch_add(1, Ordering::Relaxed);
                let request = Request::get(path(i))
                    .header(HOST, "localhost")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let response = sender.send_request(request).await.expect("response");
                assert_eq!(response.status(), 200);
                // Count the bytes as they come, without gathering them.
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    let len = frame.expect("frame").data_ref().map_or(0, Bytes::len);
                    bytes.fetch_add(len as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let secs = RUN.as_secs_f64();
    (
        requests.load(Ordering::Relaxed) as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn one_company_page() {
    let mut server = Server::start(StateConfig::default()).await;
    for company in 1..=20 {
        server.put_rooms(
            (0..1000)
                .map(|i| room(company, company * 10_000 + i, i % 7))
                .collect(),
        );
    }
    let (rps, mbps) = load(&server, |_| "/v1/views/occupancy?company_id=7".to_owned()).await;
    println!("cached page of 1000 rows: {rps:.0} requests/s, {mbps:.0} MB/s");
    let (rps, mbps) = load(&server, |i| {
        format!("/v1/views/occupancy?company_id=7&limit={}", 1000 + i)
    })
    .await;
    println!("encoded per request (cache bypassed): {rps:.0} requests/s, {mbps:.0} MB/s");
    let (rps, mbps) = load(&server, |_| {
        "/v1/views/occupancy?company_id=7&format=arrow".to_owned()
    })
    .await;
    println!("cached Arrow page of 1000 rows: {rps:.0} requests/s, {mbps:.0} MB/s");
}
