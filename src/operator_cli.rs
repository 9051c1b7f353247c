//! `twinflow connectors ...`: the operator's command line over the engine's REST API
//! (`/v1/connectors`), a table for people or the API's JSON for scripts.

use anyhow::{bail, Context};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// The columns of the connector table: header and the status field shown.
const COLUMNS: [(&str, &str); 9] = [
    ("NAME", "name"),
    ("KIND", "kind"),
    ("STATE", "state"),
    ("CHANGES", "changes"),
    ("CHANGES/S", "changes_per_s"),
    ("TX/S", "transactions_per_s"),
    ("ERRORS", "errors"),
    ("DEAD LETTERS", "dead_letters"),
    ("POSITION", "read_position"),
];

/// Lists the connectors of the engine at `url` with the operator `token`: the JSON the API
/// returned when `json`, else a table.
pub fn list(url: &str, token: &str, json: bool) -> anyhow::Result<String> {
    let body = call("GET", &connectors_url(url), token, None)?;
    if json {
        return Ok(serde_json::to_string_pretty(&body)?);
    }
    let connectors = body["connectors"]
        .as_array()
        .context("the answer has no `connectors` list")?;
    Ok(table(connectors))
}

/// Pauses (`paused`) or resumes the connector `name` of the engine at `url`: its status
/// afterwards, as JSON when `json`, else a table.
pub fn set_paused(
    url: &str,
    token: &str,
    name: &str,
    paused: bool,
    json: bool,
) -> anyhow::Result<String> {
    let action = if paused { "pause" } else { "resume" };
    let url = format!("{}/{action}", connector_url(url, name));
    let body = call("POST", &url, token, None)?;
    one(&body, json)
}

/// Adds the connector `name` of `kind` with `config` (a JSON object) to the engine at `url`:
/// its status once started, as JSON when `json`, else a table.
pub fn add(
    url: &str,
    token: &str,
    name: &str,
    kind: &str,
    config: serde_json::Value,
    json: bool,
) -> anyhow::Result<String> {
    let request = serde_json::json!({ "name": name, "kind": kind, "config": config });
    let body = call("POST", &connectors_url(url), token, Some(&request))?;
    one(&body, json)
}

/// Removes the connector `name` from the engine at `url`, with every row it contributed.
pub fn remove(url: &str, token: &str, name: &str, json: bool) -> anyhow::Result<String> {
    let body = call("DELETE", &connector_url(url, name), token, None)?;
    if json {
        return Ok(serde_json::to_string_pretty(&body)? + "\n");
    }
    Ok(format!(
        "removed {name}; its rows are gone from the views as of {}\n",
        body["as_of"]
    ))
}

/// One connector's status, as JSON when `json`, else a table.
fn one(status: &serde_json::Value, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string_pretty(status)? + "\n");
    }
    Ok(table(std::slice::from_ref(status)))
}

fn connectors_url(url: &str) -> String {
    format!("{}/v1/connectors", url.trim_end_matches('/'))
}

fn connector_url(url: &str, name: &str) -> String {
    // The name is one path segment, whatever it holds (`mysql://host:port`).
    let segment = utf8_percent_encode(name, NON_ALPHANUMERIC);
    format!("{}/{segment}", connectors_url(url))
}

/// Sends `method` (GET, POST or DELETE) to `url` as the operator, with `body` as JSON; a
/// refusal becomes an error with the server's reason.
fn call(
    method: &str,
    url: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let authorization = format!("Bearer {token}");
    let sent = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("Authorization", &authorization)
            .send_json(body),
        ("POST", None) => agent
            .post(url)
            .header("Authorization", &authorization)
            .send_empty(),
        ("DELETE", _) => agent
            .delete(url)
            .header("Authorization", &authorization)
            .call(),
        _ => agent
            .get(url)
            .header("Authorization", &authorization)
            .call(),
    };
    let mut response = sent.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("reading the JSON of {url} ({status})"))?;
    if !status.is_success() {
        let reason = body["error"].as_str().unwrap_or("no reason given");
        bail!("{method} {url}: {status}: {reason}");
    }
    Ok(body)
}

/// The connectors as a table, one line each, columns padded to their widest cell.
fn table(connectors: &[serde_json::Value]) -> String {
    let rows: Vec<Vec<String>> =
        std::iter::once(COLUMNS.map(|(header, _)| header.to_string()).to_vec())
            .chain(connectors.iter().map(|connector| {
                COLUMNS
                    .iter()
                    .map(|(_, field)| cell(&connector[*field]))
                    .collect()
            }))
            .collect();
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_string() + "\n"
        })
        .collect()
}

/// A JSON value as a table cell: numbers rounded to one decimal, nothing as `-`.
fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_columns_and_marks_missing_values() {
        let connectors = vec![
            serde_json::json!({"name": "mysql://db:3306", "kind": "mysql", "state": "streaming",
                "changes": 1200, "transactions_per_s": 12.345, "errors": 0, "dead_letters": 2,
                "read_position": "mysql-bin.000003:4711"}),
            serde_json::json!({"name": "gen", "kind": "generator", "state": "stopped",
                "changes": 5, "transactions_per_s": 0.0, "errors": 1, "dead_letters": 0}),
        ];
        let text = table(&connectors);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME             KIND       STATE"));
        assert!(lines[1].contains("12.3") && lines[1].ends_with("mysql-bin.000003:4711"));
        assert!(lines[2].starts_with("gen  ") && lines[2].ends_with('-'));
    }
}
