//! The contract this repository carries in `spec/`: the domain databases (`schema.sql`) and
//! every view as SQL (`views.sql`). Tests load the schema into their private servers from
//! here; the copy is checked against the workplace's `../shared/spec/`, where that exists.

use std::path::Path;

/// `spec/schema.sql`: the seven domain databases, as the services have them.
pub fn schema_sql() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/schema.sql"
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The repository's copy of the contract equals the shared original, file for file, where
    /// the original is beside the repository (a clone on its own has only the copy).
    #[test]
    fn the_copy_of_the_contract_equals_the_shared_one() {
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec");
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec");
        if !shared.is_dir() {
            println!(
                "no {} beside the repository: nothing to compare",
                shared.display()
            );
            return;
        }
        for file in ["schema.sql", "views.sql"] {
            let read = |dir: &Path| {
                std::fs::read_to_string(dir.join(file))
                    .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(file).display()))
            };
            assert!(
                read(&shared) == read(&ours),
                "spec/{file} differs from {}: copy the shared contract into spec/",
                shared.join(file).display()
            );
        }
    }
}
