//! Rust coverage with cargo-llvm-cov: its environment (`cargo llvm-cov show-env`) for the
//! build and every test process, then `cargo llvm-cov report --lcov` to `coverage/rust.lcov`.
//! The build goes to `<target>/llvm-cov-target`, as `cargo llvm-cov` itself does, so
//! instrumented and plain builds do not evict each other.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to get Rust coverage when cargo-llvm-cov or llvm-tools are missing.
const LLVM_COV_HINT: &str = "install it with `cargo install cargo-llvm-cov --locked` and `rustup component add llvm-tools-preview`";

/// cargo-llvm-cov, ready to instrument a build: the environment for cargo and the tests.
#[derive(Clone, Debug)]
pub struct LlvmCov {
    cargo: String,
    dir: PathBuf,
    manifest_path: Option<PathBuf>,
    /// `show-env`'s variables plus `CARGO_TARGET_DIR`.
    pub env: Vec<(String, String)>,
}

impl LlvmCov {
    /// Check that `cargo llvm-cov` and the LLVM tools work here and read their
    /// environment; the error is the message to show (what is missing and how to get it).
    pub fn setup(cargo: &str, dir: &Path, manifest_path: Option<&Path>) -> Result<LlvmCov, String> {
        let mut probe = LlvmCov {
            cargo: cargo.to_owned(),
            dir: dir.to_owned(),
            manifest_path: manifest_path.map(Path::to_owned),
            env: Vec::new(),
        };
        // Each `cargo llvm-cov` call costs a `cargo metadata`: ask for its environment once,
        // while checking the LLVM tools.
        let (plain, missing) = std::thread::scope(|s| {
            let tools = s.spawn(missing_llvm_tool);
            let env = probe.show_env();
            (env, tools.join().ok().flatten())
        });
        let plain = plain?;
        if let Some(missing) = missing {
            return Err(format!(
                "the LLVM tools cargo-llvm-cov needs are missing ({missing} not found): {LLVM_COV_HINT}"
            ));
        }
        let target = plain
            .iter()
            .find(|(k, _)| k == "CARGO_LLVM_COV_TARGET_DIR")
            .map(|(_, v)| v.clone())
            .ok_or("`cargo llvm-cov show-env` did not name the target directory")?;
        let mut env = in_own_target_dir(plain, &target);
        let own = env
            .iter()
            .find(|(k, _)| k == "CARGO_LLVM_COV_TARGET_DIR")
            .map(|(_, v)| v.clone())
            .unwrap_or(target);
        env.retain(|(k, _)| k != "CARGO_TARGET_DIR");
        env.push(("CARGO_TARGET_DIR".into(), own));
        // Profiles of an earlier run would be counted again (what `cargo llvm-cov clean
        // --profraw-only` does: the `*.profraw` where LLVM_PROFILE_FILE puts them).
        if let Some((_, pattern)) = env.iter().find(|(k, _)| k == "LLVM_PROFILE_FILE")
            && let Some(dir) = Path::new(pattern).parent()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "profraw") {
                    std::fs::remove_file(e.path()).map_err(|err| {
                        format!(
                            "cannot remove the old profile {}: {err}",
                            e.path().display()
                        )
                    })?;
                }
            }
        }
        probe.env = env;
        Ok(probe)
    }

    /// Write the LCOV report of everything the tests ran to `out`.
    pub fn report(&self, out: &Path) -> Result<(), String> {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let path = out.display().to_string();
        let o = self
            .output(&["report", "--lcov", "--output-path", &path])
            .map_err(|e| e.to_string())?;
        check(o).map_err(|e| format!("`cargo llvm-cov report` failed: {e}"))
    }

    fn show_env(&self) -> Result<Vec<(String, String)>, String> {
        let o = self
            .output(&["show-env", "--sh"])
            .map_err(|e| format!("cannot run `{} llvm-cov`: {e}: {LLVM_COV_HINT}", self.cargo))?;
        if !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no such command") {
            return Err(format!("cargo-llvm-cov is not installed: {LLVM_COV_HINT}"));
        }
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        check(o).map_err(|e| format!("`cargo llvm-cov show-env` failed: {e}"))?;
        parse_sh_exports(&text)
            .map_err(|e| format!("cannot read `cargo llvm-cov show-env --sh` output: {e}"))
    }

    fn output(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        let mut c = Command::new(&self.cargo);
        c.arg("llvm-cov").args(args);
        if let Some(m) = &self.manifest_path {
            c.arg("--manifest-path").arg(m);
        }
        c.current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
    }
}

fn check(o: std::process::Output) -> Result<(), String> {
    if o.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&o.stderr);
    let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(5)..].join("\n");
    Err(format!("{} {tail}", o.status))
}

/// cargo-llvm-cov's environment moved from the target directory `target` to its own
/// directory below it (`target/llvm-cov-target`, as `cargo llvm-cov` itself builds), so
/// the instrumented build and the plain one do not evict each other. Same as asking
/// `show-env` again with `CARGO_TARGET_DIR` set there, without a second `cargo metadata`.
/// cargo-llvm-cov's variables whose value is (or is inside) the target directory.
const TARGET_DIR_VARS: [&str; 3] = [
    "LLVM_PROFILE_FILE",
    "CARGO_LLVM_COV_TARGET_DIR",
    "CARGO_LLVM_COV_BUILD_DIR",
];

fn in_own_target_dir(env: Vec<(String, String)>, target: &str) -> Vec<(String, String)> {
    if Path::new(target).ends_with("llvm-cov-target") {
        return env;
    }
    let own = format!("{}/llvm-cov-target", target.trim_end_matches('/'));
    env.into_iter()
        .map(|(k, v)| {
            // Only the variables that name the target directory: others (RUSTC_WRAPPER,
            // the cargo-llvm-cov binary itself) may live below it and must not move.
            if !TARGET_DIR_VARS.contains(&k.as_str()) {
                return (k, v);
            }
            let moved = match v.strip_prefix(target) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{own}{rest}"),
                _ => v,
            };
            (k, moved)
        })
        .collect()
}

/// The first of llvm-profdata / llvm-cov that neither `LLVM_*` variables nor the
/// toolchain's `llvm-tools` provide (where cargo-llvm-cov looks for them).
fn missing_llvm_tool() -> Option<&'static str> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let printed = Command::new(&rustc)
        .args(["--print", "sysroot", "--print", "host-tuple"])
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut lines = printed.lines().map(str::trim).filter(|l| !l.is_empty());
    let sysroot = lines.next().map(PathBuf::from);
    let host = lines.next().map(str::to_owned);
    [("LLVM_PROFDATA", "llvm-profdata"), ("LLVM_COV", "llvm-cov")]
        .into_iter()
        .find(|(var, tool)| {
            if std::env::var_os(var).is_some_and(|v| Path::new(&v).is_file()) {
                return false;
            }
            match (&sysroot, &host) {
                (Some(s), Some(h)) => !s
                    .join("lib/rustlib")
                    .join(h)
                    .join("bin")
                    .join(format!("{tool}{}", std::env::consts::EXE_SUFFIX))
                    .is_file(),
                _ => true,
            }
        })
        .map(|(_, tool)| tool)
}

/// `export NAME='value'` lines as POSIX sh writes them (single quotes, `'\''` for a quote).
fn parse_sh_exports(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rest = line.strip_prefix("export ").unwrap_or(line);
        let (name, raw) = rest
            .split_once('=')
            .ok_or_else(|| format!("line {}: not NAME=value: {line}", i + 1))?;
        let mut value = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => value.push(c),
                        None => return Err(format!("line {}: unterminated quote", i + 1)),
                    }
                },
                '\\' => value.extend(chars.next()),
                c => value.push(c),
            }
        }
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_exports_are_unquoted() {
        let text = "export A='x y'\nexport B=plain\nexport C='it'\\''s'\n\nexport D=''\n";
        assert_eq!(
            parse_sh_exports(text).unwrap(),
            vec![
                ("A".into(), "x y".into()),
                ("B".into(), "plain".into()),
                ("C".into(), "it's".into()),
                ("D".into(), String::new()),
            ]
        );
        assert!(
            parse_sh_exports("export A='open")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse_sh_exports("junk").unwrap_err().contains("line 1"));
    }

    #[test]
    fn the_environment_moves_into_its_own_target_dir() {
        let env = vec![
            (
                "LLVM_PROFILE_FILE".into(),
                "/p/target/p-%p-%2m.profraw".into(),
            ),
            ("CARGO_LLVM_COV_TARGET_DIR".into(), "/p/target".into()),
            ("CARGO_LLVM_COV_BUILD_DIR".into(), "/p/target".into()),
            (
                "RUSTC_WRAPPER".into(),
                "/p/target/tools/bin/cargo-llvm-cov".into(),
            ),
            ("OTHER".into(), "/p/targetx/bin".into()),
        ];
        let moved = in_own_target_dir(env.clone(), "/p/target");
        let get = |k: &str| moved.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(
            get("LLVM_PROFILE_FILE"),
            "/p/target/llvm-cov-target/p-%p-%2m.profraw"
        );
        assert_eq!(
            get("CARGO_LLVM_COV_TARGET_DIR"),
            "/p/target/llvm-cov-target"
        );
        assert_eq!(get("CARGO_LLVM_COV_BUILD_DIR"), "/p/target/llvm-cov-target");
        // cargo-llvm-cov installed below the target directory stays where it is.
        assert_eq!(get("RUSTC_WRAPPER"), "/p/target/tools/bin/cargo-llvm-cov");
        assert_eq!(get("OTHER"), "/p/targetx/bin");
        let already = in_own_target_dir(moved.clone(), "/p/target/llvm-cov-target");
        assert_eq!(already, moved);
    }

    #[test]
    fn a_missing_cargo_llvm_cov_says_how_to_install_it() {
        let err = LlvmCov::setup("/nonexistent/cargo", Path::new("."), None).unwrap_err();
        assert!(err.contains("cargo install cargo-llvm-cov"), "{err}");
        assert!(err.contains("llvm-tools-preview"), "{err}");
    }
}
