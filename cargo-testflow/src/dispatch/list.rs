//! `cargo testflow list`.

use std::io::Write;

use anyhow::Result;

use testflow::exit_code;

use crate::args::{ListArgs, OutputFormat};
use crate::dispatch::shared::{SuitesHere, affected_preview, suites_here};
use crate::output::list_text;

pub(crate) fn list(args: ListArgs) -> Result<i32> {
    let mut here = suites_here(&args.selection, args.project.as_deref(), &[], !args.no_doc)?;
    let affected = match affected_preview(&args.affected, args.project.as_deref(), &mut here)? {
        Some(Err(code)) => return Ok(code),
        Some(Ok(plan)) => Some(plan),
        None => None,
    };
    let SuitesHere { suites: found, .. } = here;
    let mut suites = Vec::new();
    for mut suite in found {
        let Some(listing) = suite.listing(&mut std::io::stderr())? else {
            return Ok(exit_code::BUILD_FAILED);
        };
        suites.extend(listing);
    }
    if let Some(plan) = &affected {
        let (selected, total) = testflow::selection::mark_affected(plan, &mut suites);
        let _ = writeln!(
            std::io::stderr(),
            "--affected: a run would select {selected} of {} ({} not selected){}",
            testflow::ui::plural(total as u64, "test", "tests"),
            total - selected,
            if args.format == OutputFormat::Json || args.names {
                ""
            } else {
                "; --names shows each test's decision"
            }
        );
    }
    if args.format == OutputFormat::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &suites)?;
        writeln!(out)?;
    } else {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", list_text(&suites, args.names))?;
    }
    // Tests in a file that could not be loaded are missing from the counts.
    let mut err = std::io::stderr();
    let problems: Vec<&String> = suites.iter().flat_map(|s| &s.problems).collect();
    for p in &problems {
        let _ = writeln!(err, "error: {p}");
    }
    // A suite that could not be collected (a pytest module with an import or syntax
    // error) is listed with its error, and the listing is not a success.
    let broken = suites.iter().filter(|s| s.error.is_some()).count();
    if broken > 0 {
        let _ = writeln!(
            err,
            "error: {broken} {} could not be collected (shown with {})",
            if broken == 1 { "suite" } else { "suites" },
            if broken == 1 {
                "its error"
            } else {
                "their errors"
            }
        );
    }
    Ok(if problems.is_empty() && broken == 0 {
        exit_code::OK
    } else {
        exit_code::BUILD_FAILED
    })
}
