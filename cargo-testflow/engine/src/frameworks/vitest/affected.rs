//! `run --affected` for Vitest: Vitest's own module graph decides, through its Node API
//! (`vitest/node`, Vitest 3 and 4): `createVitest('test', { related })`, then
//! `globTestSpecifications()` (every test file) and `getRelevantTestSpecifications()`
//! (the files whose import graph reaches one of `related`: what `vitest related` and
//! `--changed` run). The selected files then run as positional file filters through the
//! usual driver.
//!
//! Why the API and not the command line: `vitest related <files>` runs the tests (it
//! cannot list), Vitest 4 has no `list --related`, and `vitest list --changed <ref>` takes
//! a git revision only and compares `ref...HEAD` (from the merge base) plus staged,
//! unstaged and untracked files: neither testflow's base diff nor `--changed`'s paths.
//! `related` takes exactly testflow's change set. One Node process answers both
//! questions, so selecting costs one Vitest start-up. The rules around the answer are in
//! `frameworks::related`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::VitestProject;
use crate::affected::Plan;
use crate::frameworks::related::{self, Answer, Runner};
use crate::model::Framework;

/// What the script's answer line starts with (Vitest or a plugin may print other lines).
const MARK: &str = "testflow-vitest-related:";

/// Reads the changed files (a JSON array) on stdin, prints one answer line.
const SCRIPT: &str = r#"
import { createVitest } from 'vitest/node';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const files = JSON.parse(input);
const options = files.length ? { watch: false, related: files } : { watch: false };
const vitest = await createVitest('test', options);
try {
  const all = await vitest.globTestSpecifications();
  const related = files.length ? await vitest.getRelevantTestSpecifications() : [];
  const ids = (specs) => specs.map((s) => s.moduleId);
  console.log('testflow-vitest-related:' + JSON.stringify({ all: ids(all), related: ids(related) }));
} finally {
  await vitest.close();
}
process.exit(0);
"#;

/// The answer line of the script's `stdout`.
pub fn parse_answer(stdout: &str) -> Result<(Vec<String>, Vec<String>)> {
    #[derive(serde::Deserialize)]
    struct Line {
        all: Vec<String>,
        related: Vec<String>,
    }
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix(MARK))
        .with_context(|| {
            let tail: String = stdout.chars().rev().take(300).collect();
            let tail: String = tail.chars().rev().collect();
            format!("no answer line from Vitest's Node API; its output ended: {tail:?}")
        })?;
    let l: Line = serde_json::from_str(line.trim()).with_context(|| {
        format!(
            "unreadable answer from Vitest's Node API: {}",
            line.chars().take(200).collect::<String>()
        )
    })?;
    Ok((l.all, l.related))
}

fn ask(project: &VitestProject, changed: &[PathBuf]) -> Result<Answer> {
    let files: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
    let mut child = std::process::Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .current_dir(&project.root)
        .env("FORCE_COLOR", "0")
        .env("NO_COLOR", "1")
        .env_remove(crate::events::EVENTS_ENV)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot run node for Vitest's Node API")?;
    if let Some(mut stdin) = child.stdin.take() {
        // The script reads all of stdin before it prints anything.
        stdin
            .write_all(serde_json::to_string(&files)?.as_bytes())
            .context("cannot hand the changed files to Vitest's Node API")?;
    }
    let out = child
        .wait_with_output()
        .context("Vitest's Node API did not finish")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = crate::frameworks::jest::strip_ansi(&String::from_utf8_lossy(&out.stderr));
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        anyhow::bail!(
            "Vitest's Node API in {} ended with {}: {}",
            project.root.display(),
            out.status,
            tail.join("\n").trim()
        );
    }
    let (all, related) = parse_answer(&stdout)?;
    Ok(Answer {
        all: all.into_iter().map(PathBuf::from).collect(),
        related: related.into_iter().map(PathBuf::from).collect(),
    })
}

/// The test files to run (relative to the project root); `None`: every one.
pub(crate) fn select(
    project: &VitestProject,
    plan: &Plan,
    history: Option<&crate::history::History>,
) -> Option<Vec<String>> {
    let runner = Runner {
        framework: Framework::Vitest,
        name: "Vitest",
        root: &project.root,
        toolchain: format!(
            "{}\n{}",
            project.vitest_bin.display(),
            related::node_version()
        ),
    };
    related::select(&runner, plan, history, &mut |changed: &[PathBuf]| {
        ask(project, changed)
    })
}
