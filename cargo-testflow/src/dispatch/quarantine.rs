//! `cargo testflow quarantine add|remove|list`.

use std::io::Write;

use anyhow::Result;

use testflow::error::Error;
use testflow::{config, exit_code};

use crate::args::{OutputFormat, QuarantineCmd};
use crate::dispatch::shared::{load_config_from, project_dir, project_root};
use crate::output::{self, print_rows};

pub(crate) fn quarantine_cmd(cmd: QuarantineCmd) -> Result<i32> {
    use testflow::quarantine;
    let mut err = std::io::stderr();
    match cmd {
        QuarantineCmd::Add {
            id,
            pattern,
            reason,
            until,
            project,
        } => {
            let rule = config::QuarantineRule {
                id,
                pattern,
                reason: Some(reason),
                until,
            };
            rule.check()
                .map_err(|e| Error::Config(anyhow::anyhow!("{e}")))?;
            let loaded = config::load(&project_dir(project.as_deref())?).map_err(Error::Config)?;
            let path = quarantine::config_file(
                loaded.source.as_deref(),
                &project_root(project.as_deref())?,
            );
            let what = quarantine::add(&path, &rule).map_err(Error::Config)?;
            // The file must still be a valid configuration.
            config::parse_str(&std::fs::read_to_string(&path)?, &path).map_err(Error::Config)?;
            let target = rule.id.as_deref().or(rule.pattern.as_deref()).unwrap_or("");
            let _ = writeln!(
                err,
                "{} `{target}` in {}",
                match what {
                    quarantine::Added::New => "quarantined",
                    quarantine::Added::Replaced => "updated the quarantine entry",
                },
                path.display()
            );
            Ok(exit_code::OK)
        }
        QuarantineCmd::Remove { id, project } => {
            let loaded = config::load(&project_dir(project.as_deref())?).map_err(Error::Config)?;
            let Some(path) = loaded.source else {
                return Err(testflow::store::NotRecorded(format!(
                    "no configuration file: `{id}` is not quarantined"
                ))
                .into());
            };
            let n = quarantine::remove(&path, &id).map_err(Error::Config)?;
            if n == 0 {
                return Err(testflow::store::NotRecorded(format!(
                    "`{id}` is not quarantined in {}",
                    path.display()
                ))
                .into());
            }
            let _ = writeln!(
                err,
                "removed `{id}` from the quarantine in {}",
                path.display()
            );
            Ok(exit_code::OK)
        }
        QuarantineCmd::List { format, project } => {
            let (cfg, source) = load_config_from(project.as_deref())?;
            let today = chrono::Utc::now().date_naive();
            let mut entries = quarantine::from_config(&cfg.quarantine, source.as_deref());
            for e in &mut entries {
                e.expired = e.expired_on(today);
            }
            if entries.is_empty() && format == OutputFormat::Human {
                let _ = writeln!(err, "no test is quarantined");
            }
            print_rows(format, &entries, output::quarantine_row)?;
            Ok(exit_code::OK)
        }
    }
}
