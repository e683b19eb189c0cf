//! Benchmark: parse and merge LCOV shards (`bench/coverage.sh` runs it in release mode).
//!
//! `coverage_bench [TOTAL_MB=200] [SHARDS=4] [ROUNDS=5]` writes SHARDS LCOV files covering
//! the same source files (as CI shards do), TOTAL_MB in all, then times
//! `testflow::coverage::load` (read, detect, parse in parallel, merge) ROUNDS times.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn shard(path: &Path, target_bytes: usize, seed: u64) -> std::io::Result<(usize, usize)> {
    let mut out = String::with_capacity(target_bytes + (1 << 20));
    let mut file = 0usize;
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut rnd = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    while out.len() < target_bytes {
        let _ = writeln!(out, "SF:/home/ci/project/src/module_{file:05}/file.rs");
        for f in 0..40 {
            let _ = writeln!(out, "FN:{},_RNvCs_module_{file}_function_{f}", f * 30 + 1);
        }
        for f in 0..40 {
            let _ = writeln!(out, "FNDA:{},_RNvCs_module_{file}_function_{f}", rnd() % 3);
        }
        let _ = writeln!(out, "FNF:40\nFNH:30");
        for b in 0..150 {
            let _ = writeln!(out, "BRDA:{},0,{},{}", b * 8 + 3, b % 2, rnd() % 4);
        }
        let _ = writeln!(out, "BRF:150\nBRH:100");
        for l in 1..=1200u32 {
            let _ = writeln!(out, "DA:{l},{}", rnd() % 50);
        }
        let _ = writeln!(out, "LF:1200\nLH:1000\nend_of_record");
        file += 1;
    }
    std::fs::write(path, &out)?;
    Ok((out.len(), file))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total_mb: usize = args.first().map_or(Ok(200), |s| s.parse())?;
    let shards: usize = args.get(1).map_or(Ok(4), |s| s.parse())?;
    let rounds: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut bytes = 0;
    let mut files = 0;
    for i in 0..shards {
        let p = dir.path().join(format!("shard-{i}.info"));
        let (b, f) = shard(&p, total_mb * 1_000_000 / shards, i as u64 + 1)?;
        bytes += b;
        files = f;
        paths.push(p);
    }
    println!(
        "{shards} LCOV shards, {:.1} MB in all, {files} source files of 1200 lines each per shard",
        bytes as f64 / 1e6
    );
    let root = Path::new("/home/ci/project");
    let mut times = Vec::new();
    for r in 0..rounds {
        let t = Instant::now();
        let cov = testflow::coverage::load(&paths, root)?;
        let secs = t.elapsed().as_secs_f64();
        let totals = cov.totals();
        println!(
            "round {}: parse + merge {secs:.3} s ({} files, {} lines, {:.2}% covered)",
            r + 1,
            cov.files.len(),
            totals.lines.total,
            totals.lines.percent.unwrap_or(0.0)
        );
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.3} s ({:.0} MB/s)",
        times[times.len() / 2],
        bytes as f64 / 1e6 / times[times.len() / 2]
    );
    Ok(())
}
