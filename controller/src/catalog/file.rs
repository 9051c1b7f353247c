//! The catalog as the data directory keeps it (`connectors.json`), and how the configuration
//! file's connectors are merged into it at start.
//!
//! The file is the truth about what runs: connectors added at runtime, paused ones, and the
//! configuration file's connectors an operator removed. The configuration file's connectors
//! are the initial catalog: at every start, one not yet in the catalog is added, and one whose
//! configuration changed replaces the catalog's (it starts over with a snapshot). One an
//! operator removed stays removed until its configuration changes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::ConnectorSpec;
use crate::durability::file::write_atomically;

/// The catalog file's name in the data directory.
pub const CATALOG_FILE: &str = "connectors.json";

/// The layout version this build writes and reads.
const VERSION: u32 = 1;

/// A connector of the catalog and whether an operator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The connector.
    pub spec: ConnectorSpec,
    /// Held at its position (`POST .../pause`) until resumed.
    pub paused: bool,
}

/// The connectors to run, and the configuration file's connectors an operator removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// The connectors, in the order they were added.
    pub entries: Vec<Entry>,
    /// Connectors of the configuration file removed by an operator, as they were configured.
    pub removed: Vec<ConnectorSpec>,
}

/// The catalog after merging the configuration file's connectors into it.
#[derive(Debug)]
pub struct Merged {
    /// What to run.
    pub catalog: Catalog,
    /// Connectors whose configuration changed, as they were: their rows are retracted and
    /// they start over without their old position.
    pub changed: Vec<ConnectorSpec>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    connectors: Vec<StoredEntry>,
    removed: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    connector: serde_json::Value,
    paused: bool,
}

impl Catalog {
    /// `stored` (none on a first start) with the configuration's connectors, `initial`, merged
    /// in; refused when two of the result feed one table.
    pub fn merge(stored: Option<Catalog>, initial: Vec<ConnectorSpec>) -> anyhow::Result<Merged> {
        for (i, spec) in initial.iter().enumerate() {
            if initial[..i].iter().any(|other| other.name == spec.name) {
                anyhow::bail!(
                    "two connectors are named `{}`: give them distinct names",
                    spec.name
                );
            }
        }
        let mut catalog = stored.unwrap_or_default();
        let mut changed = Vec::new();
        for spec in initial {
            if let Some(entry) = catalog
                .entries
                .iter_mut()
                .find(|e| e.spec.name == spec.name)
            {
                if entry.spec != spec {
                    tracing::info!(connector = %spec.name, "its configuration changed: it starts over");
                    changed.push(std::mem::replace(&mut entry.spec, spec));
                }
            } else if catalog.removed.contains(&spec) {
                tracing::info!(
                    connector = %spec.name,
                    "removed by an operator: not started (add it again, or change its configuration)"
                );
            } else {
                catalog.removed.retain(|removed| removed.name != spec.name);
                catalog.entries.push(Entry {
                    spec,
                    paused: false,
                });
            }
        }
        for (i, a) in catalog.entries.iter().enumerate() {
            for b in &catalog.entries[i + 1..] {
                if let Some(table) = a.spec.shared_table(&b.spec) {
                    anyhow::bail!(
                        "connectors `{}` and `{}` both feed {table}: give them disjoint `databases`",
                        a.spec.name,
                        b.spec.name
                    );
                }
            }
        }
        Ok(Merged { catalog, changed })
    }
}

/// The catalog file of a data directory.
#[derive(Clone, Debug)]
pub struct CatalogFile {
    dir: PathBuf,
}

impl CatalogFile {
    /// The catalog file of the data directory `dir` (which exists).
    pub fn new(dir: &Path) -> CatalogFile {
        CatalogFile {
            dir: dir.to_path_buf(),
        }
    }

    /// The stored catalog; `None` before the first start with this data directory.
    pub fn load(&self) -> anyhow::Result<Option<Catalog>> {
        let path = self.dir.join(CATALOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {}", path.display()))?;
        if stored.version != VERSION {
            anyhow::bail!(
                "{} has layout version {}; this build reads {VERSION}",
                path.display(),
                stored.version
            );
        }
        let parse = |json: &serde_json::Value| {
            ConnectorSpec::parse(json).with_context(|| format!("in {}", path.display()))
        };
        let entries = stored
            .connectors
            .iter()
            .map(|entry| {
                Ok(Entry {
                    spec: parse(&entry.connector)?,
                    paused: entry.paused,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let removed = stored
            .removed
            .iter()
            .map(parse)
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Catalog { entries, removed }))
    }

    /// Replaces the stored catalog with `catalog` (atomically; readable by the owner only, as
    /// it holds the sources' credentials). Replayed files are left out: they cannot resume.
    pub fn save(&self, catalog: &Catalog) -> anyhow::Result<()> {
        let stored = Stored {
            version: VERSION,
            connectors: catalog
                .entries
                .iter()
                .filter(|e| e.spec.is_persistent())
                .map(|e| StoredEntry {
                    connector: e.spec.to_json(),
                    paused: e.paused,
                })
                .collect(),
            removed: catalog.removed.iter().map(ConnectorSpec::to_json).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).context("encoding the catalog")?;
        write_atomically(&self.dir, CATALOG_FILE, &bytes)
            .with_context(|| format!("writing {}", self.dir.join(CATALOG_FILE).display()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mysql(name: &str, url: &str, databases: &[&str]) -> ConnectorSpec {
        ConnectorSpec::parse(&json!({
            "name": name, "kind": "mysql",
            "config": {"url": url, "databases": databases}
        }))
        .expect("valid")
    }

    #[test]
    fn the_configuration_is_the_initial_catalog_and_its_changes_are_applied_not_duplicated() {
        let hr = mysql("hr", "mysql://u:p@a:1", &["twin_hr"]);
        let first = Catalog::merge(None, vec![hr.clone()]).expect("merges");
        assert_eq!(first.catalog.entries.len(), 1);
        assert!(first.changed.is_empty());

        let moved = mysql("hr", "mysql://u:p@b:1", &["twin_hr"]);
        let again =
            Catalog::merge(Some(first.catalog.clone()), vec![moved.clone()]).expect("merges");
        assert_eq!(again.catalog.entries.len(), 1);
        assert_eq!(again.catalog.entries[0].spec, moved);
        assert_eq!(again.changed, vec![hr.clone()]);

        let same = Catalog::merge(Some(again.catalog), vec![moved]).expect("merges");
        assert!(same.changed.is_empty());
    }

    #[test]
    fn a_removed_connector_stays_removed_until_its_configuration_changes() {
        let hr = mysql("hr", "mysql://u:p@a:1", &["twin_hr"]);
        let catalog = Catalog {
            entries: Vec::new(),
            removed: vec![hr.clone()],
        };
        let merged = Catalog::merge(Some(catalog.clone()), vec![hr]).expect("merges");
        assert!(merged.catalog.entries.is_empty());
        let changed = mysql("hr", "mysql://u:p@b:1", &["twin_hr"]);
        let merged = Catalog::merge(Some(catalog), vec![changed]).expect("merges");
        assert_eq!(merged.catalog.entries.len(), 1);
        assert!(merged.catalog.removed.is_empty());
    }

    #[test]
    fn two_connectors_feeding_one_table_are_refused() {
        let a = mysql("a", "mysql://u:p@a:1", &["twin_hr", "twin_org"]);
        let b = mysql("b", "mysql://u:p@b:1", &["twin_org"]);
        let err = Catalog::merge(None, vec![a, b]).expect_err("overlap");
        assert!(err.to_string().contains("twin_org."), "{err}");
    }

    #[test]
    fn the_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = CatalogFile::new(dir.path());
        assert_eq!(file.load().expect("loads"), None);
        let catalog = Catalog {
            entries: vec![Entry {
                spec: mysql("hr", "mysql://u:p@a:1", &["twin_hr"]),
                paused: true,
            }],
            removed: vec![mysql("org", "mysql://u:p@a:1", &["twin_org"])],
        };
        file.save(&catalog).expect("saves");
        assert_eq!(file.load().expect("loads"), Some(catalog));
        let mode = std::fs::metadata(dir.path().join(CATALOG_FILE))
            .expect("exists")
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
}
