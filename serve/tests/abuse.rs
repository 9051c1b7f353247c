//! The read paths under abuse, over real sockets: the request-rate limit answers 429 with
//! `Retry-After`; a storm of subscriptions stops at the caps while commits go on; a browser
//! WebSocket from a foreign origin is refused; an oversized client message closes the socket.

mod common;

use std::time::Instant;

use common::{next_json, request_with, room, within, Server, OPERATOR_TOKEN};
use futures_util::SinkExt;
use hyper::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use twinflow_serve::{AuthConfig, Limits, ServeConfig};
use twinflow_views::StateConfig;

/// An engine read with the operator token (one bucket, one subscription cap), with `limits`.
fn config(limits: Limits, allowed_origins: Vec<String>) -> ServeConfig {
    ServeConfig {
        auth: AuthConfig {
            operator_token: Some(OPERATOR_TOKEN.to_owned()),
            allowed_origins,
            ..AuthConfig::default()
        },
        limits,
    }
}

fn bearer() -> String {
    format!("Bearer {OPERATOR_TOKEN}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limiter_answers_429_with_retry_after() {
    let limits = Limits {
        requests_per_second: 2,
        request_burst: 5,
        ..Limits::default()
    };
    let mut server = Server::start_with(StateConfig::default(), config(limits, Vec::new())).await;
    server.put_rooms(vec![room(1, 10, 0)]);
    let bearer = bearer();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let reply = request_with(
            server.addr,
            Method::GET,
            "/v1/views/occupancy",
            &[("authorization", &bearer)],
        )
        .await;
        if reply.status == 429 {
            let wait: u64 = reply
                .header("retry-after")
                .and_then(|s| s.parse().ok())
                .expect("a Retry-After in seconds");
            assert!((1..=2).contains(&wait), "{wait}");
            reply.assert_error(429, "rate limit");
        }
        statuses.push(reply.status);
    }
    assert_eq!(&statuses[..5], &[200; 5], "the burst is served");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    // The health check is not counted.
    let health = request_with(server.addr, Method::GET, "/healthz", &[]).await;
    assert_eq!(health.status, 200);
}

/// 10,000 subscription attempts of one reader: at most the cap are open, every other one is
/// refused before the upgrade, and the commits made meanwhile all reach the subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_subscriptions_stops_at_the_cap_while_commits_go_on() {
    let cap = 64;
    let limits = Limits {
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        subscriptions_per_tenant: cap,
        ..Limits::default()
    };
    let mut server = Server::start_with(StateConfig::default(), config(limits, Vec::new())).await;
    server.put_rooms(vec![room(1, 10, 0)]);
    let url = format!(
        "ws://{}/v1/views/occupancy/subscribe?company_id=1&access_token={OPERATOR_TOKEN}",
        server.addr
    );
    let mut open = Vec::new();
    let (mut refused, mut commits) = (0, 0);
    let started = Instant::now();
    for attempt in 0..10_000 {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => open.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 429);
                refused += 1;
            }
            Err(other) => panic!("attempt {attempt}: {other}"),
        }
        if attempt % 100 == 0 {
            server.put_rooms(vec![room(1, 10, attempt)]);
            commits += 1;
        }
    }
    assert_eq!(open.len(), cap);
    assert_eq!(refused, 10_000 - cap);
    // Every open subscriber got its snapshot and then every later commit, in order.
    let last = server.as_of;
    for ws in &mut open {
        let mut as_of = next_json(ws).await["as_of"].as_u64().expect("an as_of");
        while as_of < last {
            as_of = next_json(ws).await["as_of"].as_u64().expect("an as_of");
        }
    }
    eprintln!(
        "10,000 attempts, {cap} open, {refused} refused, {commits} commits in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    let allowed = "https://console.example".to_owned();
    let mut server = Server::start_with(
        StateConfig::default(),
        config(Limits::default(), vec![allowed.clone()]),
    )
    .await;
    server.put_rooms(vec![room(1, 10, 0)]);
    let url = format!(
        "ws://{}/v1/views/occupancy/subscribe?access_token={OPERATOR_TOKEN}",
        server.addr
    );
    let with_origin = |origin: &str| {
        let mut request = url.as_str().into_client_request().expect("a request");
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header"));
        request
    };
    match within(tokio_tungstenite::connect_async(with_origin(
        "https://evil.example",
    )))
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!("a foreign origin must be refused, got {other:?}"),
    }
    let (mut ws, _) = within(tokio_tungstenite::connect_async(with_origin(&allowed)))
        .await
        .expect("the allowed origin");
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    // A client that is not a browser sends no Origin.
    let (mut ws, _) = within(tokio_tungstenite::connect_async(&url))
        .await
        .expect("no origin");
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_message_over_4_kib_closes_the_subscription() {
    let mut server = Server::start_with(
        StateConfig::default(),
        config(Limits::default(), Vec::new()),
    )
    .await;
    server.put_rooms(vec![room(1, 10, 0)]);
    let url = format!(
        "ws://{}/v1/views/occupancy/subscribe?access_token={OPERATOR_TOKEN}",
        server.addr
    );
    let (mut ws, _) = within(tokio_tungstenite::connect_async(&url))
        .await
        .expect("subscribes");
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    ws.send(Message::Text("x".repeat(4000).into()))
        .await
        .expect("a small message is taken");
    let _ = ws.send(Message::Text("x".repeat(5000).into())).await;
    // The server ends the connection: a close frame or the stream's end, within the wait.
    let ended = within(async {
        loop {
            match futures_util::StreamExt::next(&mut ws).await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended);
}
