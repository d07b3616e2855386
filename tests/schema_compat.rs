//! Compatibility policy BACKWARD (schemas/README.md): a reader with the schema in the
//! working tree must read every record written with the previous committed version of
//! the same schema. The previous version comes from git: the committed version when the
//! working tree changed the file, else the version before the last commit that changed it.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The previous committed text of `path`, if there is one.
fn previous_version(path: &str, current: &str) -> Option<String> {
    let committed = git(&["show", &format!("HEAD:{path}")]);
    if let Some(committed) = committed.filter(|committed| committed != current) {
        return Some(committed);
    }
    let commits = git(&["log", "--format=%H", "-n", "2", "--", path])?;
    let previous = commits.lines().nth(1)?;
    git(&["show", &format!("{previous}:{path}")])
}

#[test]
fn every_schema_reads_data_written_with_its_previous_committed_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        git(&["rev-parse", "HEAD"]).is_some(),
        "the schema check needs the git history of the checkout"
    );
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root.join("schemas")).expect("schemas/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().and_then(|e| e.to_str()) != Some("avsc") {
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .expect("inside the repo")
            .to_string_lossy()
            .into_owned();
        let current_text = std::fs::read_to_string(&path).expect("readable");
        let current =
            Schema::parse_str(&current_text).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let Some(previous_text) = previous_version(&relative, &current_text) else {
            continue;
        };
        let previous = Schema::parse_str(&previous_text)
            .unwrap_or_else(|e| panic!("previous {relative}: {e}"));
        if let Err(error) = SchemaCompatibility::can_read(&previous, &current) {
            panic!(
                "{relative} is not BACKWARD compatible with its previous committed version: {error}"
            );
        }
        checked.push(relative);
    }
    eprintln!("checked against previous versions: {checked:?}");
}

#[test]
fn the_compatibility_check_rejects_an_incompatible_change() {
    let old = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#,
    )
    .expect("parses");
    let new_without_default = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}"#,
    )
    .expect("parses");
    let new_with_default = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}"#,
    )
    .expect("parses");
    assert!(SchemaCompatibility::can_read(&old, &new_without_default).is_err());
    assert!(SchemaCompatibility::can_read(&old, &new_with_default).is_ok());
}
