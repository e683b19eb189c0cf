//! `cargo testflow ci`.

use std::io::Write;

use anyhow::{Context, Result};

use testflow::{exit_code, session};

use crate::args::{CiArgs, CiName};
use crate::dispatch::shared::project_dir;

pub(crate) fn ci_cmd(args: CiArgs) -> Result<i32> {
    use testflow::ci;
    let dir = project_dir(args.project.as_deref())?;
    let shape = ci::ProjectShape::detect(&dir);
    if shape.is_empty() {
        return Err(session::NothingToRun(dir).into());
    }
    let which = match args.ci {
        CiName::Github => ci::Ci::Github,
        CiName::Gitlab => ci::Ci::Gitlab,
        CiName::Circleci => ci::Ci::Circleci,
    };
    let opts = ci::Options {
        shards: args.shards,
        install: args.testflow_install,
        git: args.testflow_git,
        version: args.testflow_version,
        coverage: args.coverage,
        branch: args
            .branch
            .unwrap_or_else(|| ci::DefaultBranch::detect(&dir)),
        affected: args.affected,
    };
    let yaml = ci::generate(which, &shape, &opts)?;
    match &args.output {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            testflow::store::write_atomic(path, yaml.as_bytes())?;
            let _ = writeln!(
                std::io::stderr(),
                "{} pipeline written to {} (the CI reads {})",
                which.name(),
                path.display(),
                which.default_path()
            );
        }
        None => std::io::stdout().lock().write_all(yaml.as_bytes())?,
    }
    Ok(exit_code::OK)
}
