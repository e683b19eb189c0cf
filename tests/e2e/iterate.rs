//! `cargo testflow iterate` with real fix commands on a copy of rust-iterate in its own
//! git repository.

use crate::util::Project;

fn iterations(out: &crate::util::Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

#[test]
fn a_fix_command_that_fixes_one_test_per_iteration_reaches_success() {
    let p = Project::copy_of("rust-iterate");
    let out = p.cmd(&[
        "iterate",
        "--fix-cmd",
        "./fix_one.sh",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = iterations(&out);
    assert_eq!(v["status"], "success");
    let counts: Vec<u64> = v["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["failures"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [2, 1, 0]);
    assert_eq!(v["iterations"][1]["fixed"][0], "iterme$tests::a_is_one");
    // Every iteration is kept on disk, with its analysis.
    let loops: Vec<_> = std::fs::read_dir(p.testflow_dir.path().join("iterations"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(loops.len(), 1);
    let dir = loops[0].path();
    for n in 1..=3 {
        assert!(dir.join(format!("iteration-{n}.json")).is_file());
        assert!(dir.join(format!("analysis-{n}.json")).is_file());
    }
}

#[test]
fn a_fix_that_breaks_another_test_is_a_regression_and_rollback_restores_only_its_change() {
    let p = Project::copy_of("rust-iterate");
    let out = p.cmd(&[
        "iterate",
        "--fix-cmd",
        "./break_c.sh",
        "--rollback-on-regression",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(out.code, 20, "{}", out.stderr);
    let v = iterations(&out);
    assert_eq!(v["status"], "regression");
    assert_eq!(
        v["iterations"][1]["newly_failing"],
        serde_json::json!(["iterme$tests::c_is_one"])
    );
    assert_eq!(
        v["iterations"][1]["rolled_back"],
        serde_json::json!(["src/lib.rs"])
    );
    let lib = std::fs::read_to_string(p.dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("C: i32 = 1;"), "the tracked change is undone");
    assert_eq!(
        std::fs::read_to_string(p.dir.join("notes.txt")).unwrap(),
        "scratch\n",
        "untracked files are left alone"
    );
    assert!(
        out.stderr.contains("newly failing: iterme$tests::c_is_one"),
        "{}",
        out.stderr
    );
}

#[test]
fn rollback_refuses_a_dirty_tree_and_a_fix_that_changes_nothing_plateaus() {
    let p = Project::copy_of("rust-iterate");
    std::fs::write(p.dir.join("src/lib.rs"), "pub const A: i32 = 0;\n").unwrap();
    let refused = p.cmd(&["iterate", "--fix-cmd", "true", "--rollback-on-regression"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("uncommitted changes"),
        "{}",
        refused.stderr
    );

    let p = Project::copy_of("rust-iterate");
    let out = p.cmd(&["iterate", "--fix-cmd", "true", "--format", "json", "-q"]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let v = iterations(&out);
    assert_eq!(v["status"], "plateau");
    assert_eq!(
        v["iterations"].as_array().unwrap().len(),
        3,
        "2 iterations without improvement after the first"
    );
}

#[test]
fn without_a_fix_command_the_loop_reruns_when_a_file_changes() {
    let p = Project::copy_of("rust-iterate");
    let child = p
        .command(&["iterate", "--format", "json", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first_done = || {
        std::fs::read_dir(p.testflow_dir.path().join("iterations"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().join("iteration-1.json").is_file())
    };
    assert!(crate::util::wait_until(
        std::time::Duration::from_secs(120),
        first_done
    ));
    let lib = std::fs::read_to_string(p.dir.join("src/lib.rs"))
        .unwrap()
        .replace("= 0;", "= 1;");
    // The loop notes the files' times when it starts waiting, which may be after this
    // point on a loaded machine: save the fix again until the loop has seen it and ended
    // (no sleep that guesses how long the loop takes to start waiting). Each save is a
    // rename, as editors save: a plain write truncates first, and a loop that looks then
    // builds an empty lib.rs (one more, failing, iteration). The new text is written
    // outside the project, where the loop does not look.
    let mut child = child;
    let ended = crate::util::wait_until(std::time::Duration::from_secs(300), || {
        let tmp = p.dir.with_file_name("lib.rs.saving");
        std::fs::write(&tmp, &lib).unwrap();
        std::fs::rename(&tmp, p.dir.join("src/lib.rs")).unwrap();
        child.try_wait().unwrap().is_some()
    });
    assert!(ended, "iterate did not rerun after the edit");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("waiting: fix the code and save"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["iterations"].as_array().unwrap().len(), 2);
}
