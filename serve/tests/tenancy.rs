//! Tenant isolation on every route: with tokens of a tenant, platform staff, the operator, and
//! with expired, foreign-key, `alg: none`, wrong-audience and missing tokens, every route
//! answers the right status, and no JSON body, Arrow batch or WebSocket message carries a row
//! of another company. Random companies, views, filters and formats, as a property test.

mod common;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{arrow_rows, next_update, request_with, within, Server, OPERATOR_TOKEN};
use hyper::Method;
use jsonwebtoken::{EncodingKey, Header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use twinflow_serve::auth::{JwtConfig, TokenVerifier};
use twinflow_serve::{AuthConfig, Limits, ServeConfig};
use twinflow_views::{ColumnType, Datum, Row, StateConfig, UserStanding, ViewId};

/// The engine's HS256 secret.
const SECRET: &[u8] = b"the test engine's secret, 32 bytes or more";
/// The audience the engine requires.
const AUDIENCE: &str = "twinflow";
/// Companies with rows.
const COMPANIES: i64 = 4;

/// An engine that takes HS256 reader tokens for [`AUDIENCE`] and the operator token, with no
/// anonymous reads, and a request rate the test does not reach.
fn serve_config() -> ServeConfig {
    let verifier = TokenVerifier::new(JwtConfig {
        secret: Some(SECRET.to_vec()),
        audience: Some(AUDIENCE.to_owned()),
        platform_roles: vec!["admin".to_owned()],
        ..JwtConfig::default()
    })
    .expect("a valid secret");
    ServeConfig {
        auth: AuthConfig {
            operator_token: Some(OPERATOR_TOKEN.to_owned()),
            jwt: Some(Arc::new(verifier)),
            ..AuthConfig::default()
        },
        limits: Limits {
            requests_per_second: 1_000_000,
            request_burst: 1_000_000,
            ..Limits::default()
        },
    }
}

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Tenant(i64),
    Platform,
    Operator,
    Expired,
    OtherKey,
    AlgNone,
    WrongAudience,
    /// A valid token with no company and no platform role.
    Nobody,
    /// No token at all.
    Anonymous,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret).expect("a signing key");
    jsonwebtoken::encode(&Header::default(), claims, &key).expect("signs")
}

/// The token `who` sends, if any.
fn token(who: Who) -> Option<String> {
    let exp = now() + 3600;
    let claims = |company: Value, role: &str| json!({"sub": "17", "company_id": company, "role": role, "exp": exp, "aud": AUDIENCE});
    Some(match who {
        Who::Tenant(company) => sign(&claims(json!(company), "viewer"), SECRET),
        Who::Platform => sign(&claims(Value::Null, "admin"), SECRET),
        Who::Operator => OPERATOR_TOKEN.to_owned(),
        Who::Expired => sign(
            &json!({"sub": 17, "company_id": 1, "exp": now() - 3600, "aud": AUDIENCE}),
            SECRET,
        ),
        Who::OtherKey => sign(
            &claims(json!(1), "viewer"),
            b"somebody else's secret, also 32 bytes long",
        ),
        Who::AlgNone => {
            let encode = |value: Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
            };
            format!(
                "{}.{}.",
                encode(json!({"alg": "none", "typ": "JWT"})),
                encode(claims(json!(1), "admin"))
            )
        }
        Who::WrongAudience => sign(
            &json!({"sub": "17", "company_id": 1, "exp": exp, "aud": "another-service"}),
            SECRET,
        ),
        Who::Nobody => sign(&claims(Value::Null, "viewer"), SECRET),
        Who::Anonymous => return None,
    })
}

/// What a data route answers `who`: `Ok(Some(c))` company `c`'s rows, `Ok(None)` every
/// company's, or an error status.
fn scope(who: Who) -> Result<Option<i64>, u16> {
    match who {
        Who::Tenant(company) => Ok(Some(company)),
        Who::Platform | Who::Operator => Ok(None),
        Who::Nobody => Err(403),
        Who::Expired | Who::OtherKey | Who::AlgNone | Who::WrongAudience | Who::Anonymous => {
            Err(401)
        }
    }
}

/// A row of `view` for `company`, keyed by `id`, built from the view's schema.
fn row(view: ViewId, company: i64, id: i64) -> Row {
    let schema = twinflow_dataflows::schema(view);
    schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| match (i, column.ty) {
            (0, _) => Datum::Int(company),
            _ if schema.key.contains(&column.name) => Datum::Int(id),
            _ if column.nullable => Datum::Null,
            (_, ColumnType::Int) => Datum::Int(id * 10 + i as i64),
            (_, ColumnType::Float) => Datum::Float(0.5),
            (_, ColumnType::Text) => Datum::Text(format!("c{company}").into()),
        })
        .collect()
}

/// Every view with three rows of each company, ids unique per view.
async fn server() -> Server {
    let mut server = Server::start_with(StateConfig::default(), serve_config()).await;
    let rows = ViewId::ALL
        .into_iter()
        .flat_map(|view| {
            (1..=COMPANIES).flat_map(move |company| {
                (0..3).map(move |n| (view, row(view, company, company * 100 + n)))
            })
        })
        .collect();
    server.commit(rows, Vec::new());
    server
}

/// `GET path` as `who`.
async fn get(server: &Server, who: Who, path: &str) -> common::Reply {
    let bearer = token(who).map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|bearer| ("authorization", bearer))
        .into_iter()
        .collect();
    request_with(server.addr, Method::GET, path, &headers).await
}

/// The companies of `rows` (JSON objects).
fn companies(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|row| row["company_id"].as_i64().expect("company_id"))
        .collect()
}

/// One case: `who` reads `view` with a `company_id` filter of `asked` (if any), as `arrow` or
/// JSON, and subscribes to it.
#[derive(Clone, Debug)]
struct Case {
    who: Who,
    view: ViewId,
    asked: Option<i64>,
    arrow: bool,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        4 => (1..=COMPANIES).prop_map(Who::Tenant),
        1 => Just(Who::Platform),
        1 => Just(Who::Operator),
        1 => Just(Who::Expired),
        1 => Just(Who::OtherKey),
        1 => Just(Who::AlgNone),
        1 => Just(Who::WrongAudience),
        1 => Just(Who::Nobody),
        1 => Just(Who::Anonymous),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        who(),
        proptest::sample::select(ViewId::ALL.to_vec()),
        proptest::option::of(1..=COMPANIES + 1),
        any::<bool>(),
    )
        .prop_map(|(who, view, asked, arrow)| Case {
            who,
            view,
            asked,
            arrow,
        })
}

/// Reads and subscribes as the case says and checks every answer.
async fn check(server: &mut Server, case: &Case) -> Result<(), TestCaseError> {
    let Case {
        who,
        view,
        asked,
        arrow,
    } = *case;
    let mut query = String::new();
    if let Some(company) = asked {
        query.push_str(&format!("company_id={company}&"));
    }
    if arrow {
        query.push_str("format=arrow&");
    }
    let reply = get(server, who, &format!("/v1/views/{view}?{query}")).await;
    let expected = match scope(who) {
        Err(status) => {
            prop_assert_eq!(reply.status, status, "{:?}", case);
            None
        }
        Ok(Some(tenant)) if asked.is_some_and(|asked| asked != tenant) => {
            prop_assert_eq!(reply.status, 403, "another company: {:?}", case);
            None
        }
        Ok(scope) => Some(scope.or(asked)),
    };
    if let Some(only) = expected {
        prop_assert_eq!(reply.status, 200, "{:?}: {:?}", case, reply.body);
        let rows = if arrow {
            arrow_rows(&reply.body).0
        } else {
            reply.json()["rows"].as_array().cloned().expect("rows")
        };
        let want = server.expected(view, |row| {
            only.is_none_or(|company| row[0] == Datum::Int(company))
        });
        prop_assert_eq!(companies(&rows), companies(&want), "{:?}", case);
    }

    // The catalog's row counts are the reader's own.
    let catalog = get(server, who, "/v1/views").await;
    match scope(who) {
        Err(status) => prop_assert_eq!(catalog.status, status),
        Ok(scope) => {
            let counted = catalog.json()["views"]
                .as_array()
                .and_then(|views| views.iter().find(|v| v["name"] == view.name()))
                .and_then(|v| v["rows"].as_u64())
                .expect("a row count");
            let per_company = 3;
            let want = scope.map_or(per_company * COMPANIES as u64, |_| per_company);
            prop_assert_eq!(counted, want, "{:?}", case);
        }
    }

    // A subscription carries the reader's rows only, in its snapshot and its changes.
    let url = format!("ws://{}/v1/views/{view}/subscribe?{query}", server.addr)
        .replace("format=arrow&", "");
    let url = match token(who) {
        Some(token) => format!("{url}access_token={token}"),
        None => url,
    };
    let connected = tokio_tungstenite::connect_async(url).await;
    match expected {
        None => {
            let refused = matches!(
                connected,
                Err(tokio_tungstenite::tungstenite::Error::Http(ref response))
                    if response.status() == 401 || response.status() == 403
            );
            prop_assert!(refused, "{:?}", case);
        }
        Some(only) => {
            let (mut ws, _) = connected.expect("subscribed");
            let snapshot = next_update(&mut ws).await;
            let rows = snapshot["rows"].as_array().cloned().expect("rows");
            prop_assert!(
                companies(&rows)
                    .iter()
                    .all(|c| only.is_none_or(|o| *c == o)),
                "{:?}: {:?}",
                case,
                rows
            );
            // Every company's first row changes (its last column, an integer in every view,
            // becomes the new as_of); the reader hears of its own.
            let next = i64::try_from(server.as_of + 1).expect("a small as_of");
            let changed: Vec<(ViewId, Row)> = (1..=COMPANIES)
                .map(|company| {
                    let mut changed = row(view, company, company * 100).to_vec();
                    let last = changed.len() - 1;
                    changed[last] = Datum::Int(next);
                    (view, Row::from(changed))
                })
                .collect();
            let want: Vec<i64> = (1..=COMPANIES)
                .filter(|c| only.is_none_or(|o| *c == o))
                .collect();
            let as_of = server.commit(changed, Vec::new());
            if want.is_empty() {
                return Ok(());
            }
            let changes = within(next_update(&mut ws)).await;
            prop_assert_eq!(&changes["as_of"], &json!(as_of));
            let upserts = changes["upserts"].as_array().cloned().expect("upserts");
            prop_assert_eq!(companies(&upserts), want, "{:?}", case);
        }
    }
    Ok(())
}

#[test]
fn no_reader_sees_another_company_s_rows_on_any_route() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let server = RefCell::new(runtime.block_on(server()));
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(&case(), |case| {
            runtime.block_on(check(&mut server.borrow_mut(), &case))
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}

/// Routes other than the views: status as_of and lag for readers, the rest for the operator;
/// dead letters for the operator; metrics for the operator; health and the OpenAPI document
/// for anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_s_routes_answer_by_who_asks() {
    let server = server().await;
    let everyone = [
        Who::Tenant(1),
        Who::Tenant(2),
        Who::Platform,
        Who::Operator,
        Who::Expired,
        Who::OtherKey,
        Who::AlgNone,
        Who::WrongAudience,
        Who::Nobody,
        Who::Anonymous,
    ];
    for who in everyone {
        let status = get(&server, who, "/v1/status").await;
        match scope(who) {
            Err(code) => assert_eq!(status.status, code, "{who:?}"),
            Ok(_) => {
                let body = status.json();
                assert!(body["as_of"].is_u64() && body["lag_ms"].is_u64(), "{who:?}");
                assert_eq!(
                    body.get("sources").is_some(),
                    who == Who::Operator,
                    "{who:?}"
                );
                assert_eq!(body.get("connectors").is_some(), who == Who::Operator);
            }
        }
        let letters = get(&server, who, "/v1/deadletters").await;
        let want = match (who, scope(who)) {
            (Who::Operator, _) => 200,
            (_, Err(code)) => code,
            (_, Ok(_)) => 403,
        };
        assert_eq!(letters.status, want, "dead letters, {who:?}");
        let metrics = get(&server, who, "/metrics").await;
        let want = match who {
            Who::Operator => 200,
            Who::Anonymous => 401,
            _ => 403,
        };
        assert_eq!(metrics.status, want, "metrics, {who:?}");
        let connectors = get(&server, who, "/v1/connectors").await;
        assert_eq!(connectors.status, want, "connectors, {who:?}");
        assert_eq!(get(&server, who, "/healthz").await.status, 200);
        assert_eq!(get(&server, who, "/v1/openapi.json").await.status, 200);
    }
}

/// A `next` cursor handed to one tenant is refused to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_of_one_tenant_is_refused_to_another() {
    let server = server().await;
    let page = get(&server, Who::Tenant(1), "/v1/views/occupancy?limit=1").await;
    let next = page.json()["next"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let own = get(
        &server,
        Who::Tenant(1),
        &format!("/v1/views/occupancy?limit=1&cursor={next}"),
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(
        companies(own.json()["rows"].as_array().expect("rows")),
        vec![1]
    );
    get(
        &server,
        Who::Tenant(2),
        &format!("/v1/views/occupancy?limit=1&cursor={next}"),
    )
    .await
    .assert_error(403, "another tenant");
}

/// The token may come as `?access_token=`, for browsers and Unity WebGL; it is not a filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_may_come_in_the_query() {
    let server = server().await;
    let token = token(Who::Tenant(3)).expect("a token");
    let reply = request_with(
        server.addr,
        Method::GET,
        &format!("/v1/views/staffing?access_token={token}"),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        companies(reply.json()["rows"].as_array().expect("rows")),
        vec![3, 3, 3]
    );
}

/// A token naming a `twin_auth.user` row is honoured only while the row is active and of the
/// token's company: deactivating the user makes the next read 403 and closes its open
/// subscription with a reason; another user's subscription goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_is_refused_and_its_subscriptions_closed() {
    let mut server = server().await;
    let user = |id: i64, active: bool| UserStanding {
        id,
        company_id: Some(1),
        active,
    };
    // Every tenant token of this test names user 17.
    let tenant = Who::Tenant(1);
    assert_eq!(
        get(&server, tenant, "/v1/views/staffing").await.status,
        200,
        "unknown user"
    );
    server.put_users(vec![(user(17, true), 1), (user(18, true), 1)]);
    assert_eq!(get(&server, tenant, "/v1/views/staffing").await.status, 200);
    // A token of the same user for another company is refused at once.
    assert_eq!(
        get(&server, Who::Tenant(2), "/v1/views/staffing")
            .await
            .status,
        403
    );

    let url = format!(
        "ws://{}/v1/views/staffing/subscribe?access_token={}",
        server.addr,
        token(tenant).expect("a token")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("subscribes");
    assert_eq!(next_update(&mut ws).await["type"], "snapshot");

    server.put_users(vec![(user(17, true), -1), (user(17, false), 1)]);
    let committed = std::time::Instant::now();
    match within(common::receive(&mut ws)).await {
        common::Received::Close(reason) => assert!(reason.contains("no longer active"), "{reason}"),
        other => panic!("expected a close, got {other:?}"),
    }
    let closed_after = committed.elapsed();
    assert!(
        closed_after < std::time::Duration::from_secs(1),
        "{closed_after:?}"
    );
    get(&server, tenant, "/v1/views/staffing")
        .await
        .assert_error(403, "no longer active");
}

/// A subscription lives no longer than its token: at `exp` it is closed with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_closed_when_its_token_expires() {
    let server = server().await;
    let claims = json!({"sub": "5", "company_id": 1, "exp": now() + 2, "aud": AUDIENCE});
    let url = format!(
        "ws://{}/v1/views/occupancy/subscribe?access_token={}",
        server.addr,
        sign(&claims, SECRET)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("subscribes");
    assert_eq!(next_update(&mut ws).await["type"], "snapshot");
    loop {
        match within(common::receive(&mut ws)).await {
            common::Received::Close(reason) => {
                assert!(reason.contains("token expired"), "{reason}");
                break;
            }
            common::Received::Json(message) => assert_eq!(message["type"], "progress"),
        }
    }
}
