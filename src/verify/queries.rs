//! `views.sql` turned into one self-contained query per served view.
//!
//! Every `CREATE OR REPLACE VIEW twin_views.NAME AS SELECT ...;` becomes a common table
//! expression; a served view's query is the `WITH` of every view defined before it, then its
//! own `SELECT`. References to `twin_views.X` become references to the expression `X`.

use anyhow::{bail, Context};
use twinflow_views::ViewId;

const CREATE: &str = "CREATE OR REPLACE VIEW twin_views.";

/// `(view, query)` for every served view, in the file's order.
pub fn view_queries(views_sql: &str) -> anyhow::Result<Vec<(ViewId, String)>> {
    let without_comments: String = views_sql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut defined: Vec<(String, String)> = Vec::new();
    let mut queries = Vec::new();
    for statement in without_comments.split(';') {
        let Some(start) = statement.find(CREATE) else {
            continue;
        };
        let rest = &statement[start + CREATE.len()..];
        let (name, body) = rest
            .split_once(" AS")
            .with_context(|| format!("a view without AS in views.sql: {rest:.40}"))?;
        let name = name.trim().to_string();
        let body = body.trim().replace("twin_views.", "");
        if let Ok(view) = name.parse::<ViewId>() {
            let mut sql = String::new();
            if !defined.is_empty() {
                let ctes: Vec<String> = defined
                    .iter()
                    .map(|(n, b)| format!("{n} AS ({b})"))
                    .collect();
                sql = format!("WITH {}\n", ctes.join(",\n"));
            }
            sql.push_str(&body);
            queries.push((view, sql));
        }
        defined.push((name, body));
    }
    let missing: Vec<&str> = ViewId::ALL
        .iter()
        .filter(|v| !queries.iter().any(|(q, _)| q == *v))
        .map(|v| v.name())
        .collect();
    if !missing.is_empty() {
        bail!("views.sql defines no {}", missing.join(", "));
    }
    Ok(queries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VIEWS_SQL;

    #[test]
    fn every_served_view_gets_a_self_contained_query() {
        let queries = view_queries(VIEWS_SQL).expect("parses");
        assert_eq!(queries.len(), ViewId::ALL.len());
        for (view, sql) in &queries {
            assert!(!sql.contains("twin_views"), "{view:?}: {sql}");
            assert!(!sql.contains("CREATE"), "{view:?}");
        }
        let (_, by_function) = queries
            .iter()
            .find(|(v, _)| *v == ViewId::StaffingByFunction)
            .expect("staffing_by_function");
        assert!(by_function.starts_with("WITH staffing AS (SELECT"));
    }
}
