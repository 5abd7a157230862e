//! `pipectl import prometheus RULES.yml…`: Prometheus alerting rules (and promtool tests) to a
//! `.pipe` file, with every rule that does not convert listed at its line with the reason.

use std::path::{Path, PathBuf};

use pipe_dsl::import::{Imported, InputFile, Options, prometheus};

/// Converts the files; writes the pipeline to `output` or standard output. True when it could
/// read every file and convert at least one rule.
pub fn run(rules: &[PathBuf], tests: &[PathBuf], output: Option<&Path>, step: u64) -> bool {
    let (Some(rule_files), Some(test_files)) = (read_all(rules), read_all(tests)) else {
        return false;
    };
    let imported = prometheus(&rule_files, &test_files, &Options { step });
    for skip in &imported.skipped {
        eprintln!(
            "warning: {}:{}: `{}` not imported: {}",
            skip.file, skip.line, skip.name, skip.reason
        );
    }
    if let Err(error) = write(&imported, output) {
        eprintln!("error: {error}");
        return false;
    }
    let rules_skipped = imported.skipped.len();
    eprintln!(
        "imported {} alert rule{}; {} not imported{}",
        imported.converted,
        if imported.converted == 1 { "" } else { "s" },
        rules_skipped,
        if rules_skipped > 0 {
            " (listed above and at the end of the file)"
        } else {
            ""
        }
    );
    imported.converted > 0
}

fn read_all(paths: &[PathBuf]) -> Option<Vec<InputFile>> {
    paths
        .iter()
        .map(|path| match std::fs::read_to_string(path) {
            Ok(text) => Some(InputFile {
                name: path.display().to_string(),
                text,
            }),
            Err(error) => {
                eprintln!("error: cannot read `{}`: {error}", path.display());
                None
            }
        })
        .collect()
}

fn write(imported: &Imported, output: Option<&Path>) -> Result<(), String> {
    match output {
        Some(path) => std::fs::write(path, &imported.pipe)
            .map_err(|error| format!("cannot write `{}`: {error}", path.display())),
        None => {
            print!("{}", imported.pipe);
            Ok(())
        }
    }
}
