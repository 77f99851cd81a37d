//! Lakes naap cannot use: one of the layout before Delta Lake.

use crate::common::{naap, simulated_file};

/// A lake of the layout before Delta Lake (`_naap/manifest/`, plain Parquet
/// folders) is refused by the pipeline and the server with one line that
/// says what it is and what to do, and nothing is written into it.
#[test]
fn a_lake_of_the_layout_before_delta_is_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_file(dir.path(), 2, "2m");
    let lake = dir.path().join("old");
    std::fs::create_dir_all(lake.join("_naap/manifest")).unwrap();
    std::fs::write(lake.join("_naap/manifest/00000000000000000001.json"), b"{\"format\":1}").unwrap();
    std::fs::create_dir_all(lake.join("lake/scores/date=2026-01-08/hour=21")).unwrap();
    let out = naap()
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the replay went on over an old lake");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("layout before Delta Lake"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains("_naap/manifest") && said[0].contains("new lake location"),
        "{stderr}"
    );
    assert!(
        !lake.join("_naap/commits").exists(),
        "nothing is written into an old lake"
    );
    assert!(!lake.join("lake/scores/_delta_log").exists());

    let out = naap()
        .args(["serve", "--lake"])
        .arg(&lake)
        .args(["--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server served an old lake");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("layout before Delta Lake"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
