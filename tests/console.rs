//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`, which `scripts/setup` installs). The console loads with no
//! JavaScript error; the floor map shows the floor's desks coloured as the view's rows say; a
//! person moved to a free desk in the source turns that desk "in use" within two seconds; a
//! tenant's token shows only its company's buildings. A screenshot of the floor is kept in the
//! target directory.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use browser::{browser, until, Driver};
use fantoccini::{Client, Locator};
use serde_json::json;
use twinflow_connectors::generator::GeneratorConfig;
use twinflow_ingest::{RowChange, TableId};
use twinflow_oracle::rows;
use twinflow_views::{Filter, ServedState, ViewId};

const SECRET: &[u8] = b"the console test's secret, 32 bytes or more";

async fn sign_in(client: &Client, address: SocketAddr, token: &str) {
    client
        .goto(&format!("http://{address}/#overview"))
        .await
        .expect("the console loads");
    client
        .find(Locator::Css("#token"))
        .await
        .expect("the token field")
        .send_keys(token)
        .await
        .expect("types");
    client
        .find(Locator::Css("#sign-in-button"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("signs in");
}

/// The class a desk's row gives it on the map.
fn occupancy_class(seats: i64, assigned: i64) -> &'static str {
    match assigned {
        0 => "free",
        a if a <= seats => "used",
        _ => "over",
    }
}

/// The desks of `floor` as the view serves them: table_id → (seats, assigned).
fn floor_desks(state: &ServedState, floor: i64) -> HashMap<i64, (i64, i64)> {
    let filter = Filter::parse(
        twinflow_dataflows::schema(ViewId::DeskOccupancy),
        [("floor_id", floor.to_string().as_str())],
    )
    .expect("a filter");
    state
        .snapshot()
        .scan(ViewId::DeskOccupancy, &filter, None)
        .map(|(_, row)| {
            let int = |i: usize| row[i].as_int().expect("an integer");
            (int(4), (int(6), int(9)))
        })
        .collect()
}

#[test]
fn the_console_shows_a_floor_live_and_only_the_tenant_s_buildings() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (pipeline, _) = common::loaded_pipeline(GeneratorConfig {
        seed: 12,
        scale: 3_000,
        ..GeneratorConfig::default()
    });
    let sources = pipeline.sources();
    let state = pipeline.state();
    // A floor with a free desk, and its company and building.
    let snapshot = state.snapshot();
    let (company, building, floor, free_desk) = snapshot
        .scan(ViewId::DeskOccupancy, &Filter::default(), None)
        .find_map(|(_, row)| {
            let int = |i: usize| row[i].as_int().expect("an integer");
            (int(9) == 0).then(|| (int(0), int(1), int(2), int(4)))
        })
        .expect("a free desk");
    let other_company = snapshot
        .scan(ViewId::OccupancyByBuilding, &Filter::default(), None)
        .filter_map(|(_, row)| row[0].as_int())
        .find(|c| *c != company)
        .expect("a second company");

    let address = common::serve_with_tokens(&runtime, &pipeline, SECRET);
    let platform = common::sign_token(SECRET, json!({"sub": "staff", "role": "admin"}));
    let tenant = common::sign_token(
        SECRET,
        json!({"sub": "tenant", "company_id": other_company}),
    );

    let driver = Driver::start();
    let profile = tempfile::tempdir().expect("a browser profile");
    let client = runtime.block_on(browser(&driver, profile.path()));
    let desks_script =
        "const r = [...document.querySelectorAll('#floor-map rect[data-table-id]')]; \
         return r.map(e => [Number(e.dataset.tableId), e.getAttribute('class')]);";
    runtime.block_on(async {
        // Platform staff: the floor of the free desk, drawn as its rows say.
        sign_in(&client, address, &platform).await;
        client
            .goto(&format!(
                "http://{address}/#occupancy?company={company}&building={building}&floor={floor}"
            ))
            .await
            .expect("the occupancy page");
        let expected = floor_desks(&state, floor);
        let count = format!(
            "return document.querySelectorAll('#floor-map rect[data-table-id]').length === {}",
            expected.len()
        );
        until(&client, &count, Duration::from_secs(20)).await;
        let drawn = client.execute(desks_script, Vec::new()).await.expect("runs");
        for desk in drawn.as_array().expect("desks") {
            let id = desk[0].as_i64().expect("a table_id");
            let (seats, assigned) = expected[&id];
            assert_eq!(desk[1], occupancy_class(seats, assigned), "desk {id}");
        }

        // A person moves to the free desk in the source: in use on the map within 2 s.
        let person = rows::person(9_000_001, company, None, Some(free_desk), "active");
        tokio::task::block_in_place(|| {
            sources
                .blocking_send(common::txn(
                    "generator",
                    1_000_000,
                    vec![RowChange::insert(TableId::People, person)],
                ))
                .expect("pipeline accepts")
        });
        let turned = format!(
            "const e = document.querySelector('#floor-map rect[data-table-id=\"{free_desk}\"]'); \
             return e !== null && e.getAttribute('class') === 'used';"
        );
        let (_, took) = until(&client, &turned, Duration::from_secs(10)).await;
        assert!(took <= Duration::from_secs(2), "the desk turned in use after {took:?}");
        let screenshot = client.screenshot().await.expect("a screenshot");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-floor.png");
        std::fs::write(&path, screenshot).expect("the screenshot is kept");
        eprintln!("screenshot: {} (the desk turned in use after {took:?})", path.display());

        // The other pages load too.
        for tab in ["overview", "staffing", "skills"] {
            client
                .goto(&format!("http://{address}/#{tab}"))
                .await
                .expect("a page");
            let ready = format!(
                "return document.querySelector('#{tab}').classList.contains('active') && \
                 document.querySelectorAll('#{tab} tbody tr').length > 0"
            );
            until(&client, &ready, Duration::from_secs(10)).await;
        }

        // A tenant sees its company's buildings only.
        client
            .find(Locator::Css("#sign-out"))
            .await
            .expect("sign out")
            .click()
            .await
            .expect("signs out");
        sign_in(&client, address, &tenant).await;
        client
            .goto(&format!("http://{address}/#occupancy"))
            .await
            .expect("the occupancy page");
        let companies = until(
            &client,
            "const o = [...document.querySelectorAll('#company option')].map(o => Number(o.value)); \
             return o.length > 0 && document.querySelectorAll('#building option').length > 0 ? o : null;",
            Duration::from_secs(20),
        )
        .await
        .0;
        assert_eq!(companies, json!([other_company]));
        let errors = client
            .execute("return window.__twinflowErrors", Vec::new())
            .await
            .expect("runs");
        assert_eq!(errors, json!([]), "JavaScript errors");
        client.close().await.expect("the session closes");
    });
    drop(sources);
    pipeline.shutdown();
}
