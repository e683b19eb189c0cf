//! The live view of a run: a progress bar with counts and ETA on a terminal, plain
//! lines otherwise (CI logs), failures as they happen.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Style, failure_lines, safe};
use crate::events::Event;
use crate::model::Outcome;
use crate::runner::Listener;

pub struct Printer {
    style: Style,
    bar: Option<ProgressBar>,
    /// The bar is drawn from the first planned tests on: not during the build (a `0/0`
    /// bar whose frames would be left between cargo's lines).
    shown: bool,
    out: Box<dyn Write + Send>,
    failed: u64,
    passed: u64,
    skipped: u64,
}

impl Printer {
    pub fn new(style: Style) -> Printer {
        let bar = style.bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            let template = if style.color {
                "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg} ETA {eta}"
            } else {
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} ETA {eta}"
            };
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar
        });
        Printer {
            style,
            bar,
            shown: false,
            out: Box::new(std::io::stderr()),
            failed: 0,
            passed: 0,
            skipped: 0,
        }
    }

    fn show_bar(&mut self) {
        if let Some(bar) = self.bar.as_ref().filter(|_| !self.shown) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
            self.shown = true;
        }
    }

    /// (tests finished, tests planned) as the bar shows them.
    pub fn progress(&self) -> Option<(u64, u64)> {
        let bar = self.bar.as_ref()?;
        Some((bar.position(), bar.length().unwrap_or(0)))
    }

    fn line(&mut self, text: &str) {
        match self.bar.as_ref().filter(|_| self.shown) {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(self.out, "{text}");
            }
        }
    }

    fn status(&self, outcome: Outcome, final_attempt: bool, flaky: bool) -> String {
        let (label, code) = match outcome {
            _ if !final_attempt => ("RETRY", "33"),
            Outcome::Passed if flaky => ("FLAKY", "33"),
            Outcome::Passed => ("PASS", "32"),
            Outcome::Failed => ("FAIL", "31"),
            Outcome::Error => ("ERROR", "31"),
            Outcome::Skipped => ("SKIP", "33"),
            Outcome::Xfailed => ("XFAIL", "33"),
            Outcome::Xpassed => ("XPASS", "33"),
            Outcome::Timeout => ("TIMEOUT", "31"),
            Outcome::Crashed => ("CRASH", "31;1"),
        };
        self.style.paint(code, &format!("{label:>7}"))
    }
}

impl Listener for Printer {
    fn on_event(&mut self, event: &Event, final_attempt: bool) {
        if self.style.quiet {
            return;
        }
        // Only finished tests: run errors are printed once, by the closing summary.
        if let Event::TestFinished {
            test,
            attempt,
            outcome,
            duration_ms,
            failure,
            ..
        } = event
        {
            if final_attempt {
                match outcome {
                    o if o.is_failure() => self.failed += 1,
                    Outcome::Skipped => self.skipped += 1,
                    _ => self.passed += 1,
                }
            }
            let flaky = *attempt > 1 && *outcome == Outcome::Passed;
            let show = outcome.is_failure() || flaky || self.bar.is_none();
            if show {
                let head = format!(
                    "{} [{:>8.3}s] {}",
                    self.status(*outcome, final_attempt, flaky),
                    duration_ms / 1000.0,
                    safe(&test.id)
                );
                self.line(&head);
                if let Some(f) = failure.as_ref().filter(|_| outcome.is_failure()) {
                    let detail = failure_lines(f, "          ");
                    self.line(&detail);
                }
            }
            if let Some(bar) = &self.bar {
                if final_attempt {
                    bar.inc(1);
                }
                let msg = format!(
                    "{} passed, {} failed, {} skipped",
                    self.passed, self.failed, self.skipped
                );
                bar.set_message(if self.failed > 0 && self.style.color {
                    self.style.paint("31", &msg)
                } else {
                    msg
                });
            }
        }
    }

    /// nextest's notice: `SLOW [> 60.000s] id`, on the terminal only.
    fn slow(&mut self, test: &crate::model::TestMeta, over: Duration) {
        if self.style.quiet {
            return;
        }
        let head = self.style.paint("33", &format!("{:>7}", "SLOW"));
        let line = format!("{head} [> {:>7.3}s] {}", over.as_secs_f64(), safe(&test.id));
        self.line(&line);
    }

    fn add_planned(&mut self, tests: usize) {
        self.show_bar();
        if let Some(bar) = &self.bar {
            bar.inc_length(tests as u64);
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Framework, TestMeta};

    fn finished(id: &str, attempt: u32, outcome: Outcome) -> Event {
        Event::TestFinished {
            time: chrono::Utc::now(),
            test: TestMeta {
                id: id.into(),
                framework: Framework::Rust,
                name: id.into(),
                suite: vec![],
                file: None,
                line: None,
                binary: None,
            },
            attempt,
            outcome,
            duration_ms: 1.0,
            failure: None,
            reason: None,
            concurrent: None,
            attachments: vec![],
        }
    }

    /// No bar during the build (it would be a `0/0` bar with frames left between cargo's
    /// lines); then the bar counts final results only, against what was planned.
    #[test]
    fn the_bar_waits_for_the_plan_and_counts_final_results() {
        let mut p = Printer::new(Style {
            color: false,
            bar: true,
            quiet: false,
        });
        p.out = Box::new(std::io::sink());
        assert!(!p.shown);
        p.add_planned(2);
        assert!(p.shown);
        p.on_event(&finished("a", 1, Outcome::Failed), false); // retried
        p.on_event(&finished("a", 2, Outcome::Passed), true);
        assert_eq!(p.progress(), Some((1, 2)));
        // Doctests are announced when rustdoc starts them.
        p.add_planned(1);
        p.on_event(&finished("b", 1, Outcome::Passed), true);
        p.on_event(&finished("doc", 1, Outcome::Failed), true);
        assert_eq!(p.progress(), Some((3, 3)));
    }
}
