//! The pure core stays pure (STYLE.md): `src/domain/` and `src/carriers/` never import
//! Kafka, tokio, HTTP, metrics, logging or the clock, and never touch files or the network.
//! Their unit tests (`#[cfg(test)]` at the end of a file) are exempt.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "rdkafka",
    "tokio",
    "axum",
    "reqwest",
    "prometheus",
    "crate::telemetry",
    "crate::kafka",
    "crate::http",
    "tracing",
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "std::fs",
    "std::net",
    "std::env",
    "println!",
    "eprintln!",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_pure_core_imports_no_io_no_clock_and_no_logging() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root.join("domain"), &mut files);
    rust_files(&root.join("carriers"), &mut files);
    assert!(files.len() > 10, "found the core's files");
    let mut violations = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|name| name == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        // Unit tests (at the end of a file, by convention) may read fixtures from disk.
        for (number, line) in text
            .lines()
            .enumerate()
            .take_while(|(_, line)| !line.starts_with("#[cfg(test)]"))
        {
            let code = line.split("//").next().unwrap_or_default();
            for forbidden in FORBIDDEN {
                if code.contains(forbidden) {
                    violations.push(format!(
                        "{}:{}: `{forbidden}` in: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the pure core must stay pure:\n{}",
        violations.join("\n")
    );
}
