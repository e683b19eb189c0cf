use super::*;

fn mixed() -> ProjectShape {
    ProjectShape {
        rust: true,
        python: true,
        node: true,
        npm_lock: true,
        requirements: true,
        testflow_checkout: false,
    }
}

#[test]
fn github_snapshot_mixed_3_shards() {
    let opts = Options {
        shards: 3,
        ..Options::default()
    };
    insta::assert_snapshot!(generate(Ci::Github, &mixed(), &opts).unwrap());
}

#[test]
fn gitlab_snapshot_mixed_3_shards() {
    let opts = Options {
        shards: 3,
        ..Options::default()
    };
    insta::assert_snapshot!(generate(Ci::Gitlab, &mixed(), &opts).unwrap());
}

#[test]
fn circleci_snapshot_mixed_3_shards() {
    let opts = Options {
        shards: 3,
        ..Options::default()
    };
    insta::assert_snapshot!(generate(Ci::Circleci, &mixed(), &opts).unwrap());
}

fn parse(ci: Ci, shape: &ProjectShape, shards: u32) -> Value {
    let opts = Options {
        shards,
        ..Options::default()
    };
    serde_yaml_ng::from_str(&generate(ci, shape, &opts).unwrap()).unwrap()
}

fn rust_only() -> ProjectShape {
    ProjectShape {
        rust: true,
        ..ProjectShape::default()
    }
}

#[test]
fn one_shard_means_no_matrix_parallel_or_parallelism() {
    let gh = parse(Ci::Github, &rust_only(), 1);
    assert!(gh["jobs"]["test"].get("strategy").is_none());
    assert!(gh["jobs"]["test"].get("env").is_none());
    let gl = parse(Ci::Gitlab, &rust_only(), 1);
    assert!(gl["testflow-test"].get("parallel").is_none());
    let cc = parse(Ci::Circleci, &rust_only(), 1);
    assert!(cc["jobs"]["testflow-test"].get("parallelism").is_none());
}

#[test]
fn shards_come_from_each_cis_own_variables() {
    let gh = parse(Ci::Github, &rust_only(), 4);
    assert_eq!(
        gh["jobs"]["test"]["env"]["TESTFLOW_SHARD"].as_str(),
        Some("${{ matrix.shard }}/4")
    );
    let gl = parse(Ci::Gitlab, &rust_only(), 4);
    assert_eq!(gl["testflow-test"]["parallel"].as_u64(), Some(4));
    let cc = parse(Ci::Circleci, &rust_only(), 4);
    assert_eq!(cc["jobs"]["testflow-test"]["parallelism"].as_u64(), Some(4));
    // And ShardSpec::from_env reads exactly those.
    for (vars, want) in [
        (vec![("TESTFLOW_SHARD", "2/4")], (2, 4)),
        (vec![("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")], (2, 4)),
        (
            vec![("CIRCLE_NODE_INDEX", "1"), ("CIRCLE_NODE_TOTAL", "4")],
            (2, 4),
        ),
    ] {
        let spec = crate::shard::ShardSpec::from_env(&|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
        .unwrap();
        assert_eq!((spec.index, spec.total), want, "{vars:?}");
    }
}

#[test]
fn merge_writes_every_report_format_and_gates() {
    let script = merge_script(false);
    for f in ReportFormat::ALL {
        assert!(
            script.contains(&format!("--format {} -o", f.name())),
            "{script}"
        );
    }
    assert!(
        script.starts_with(
            "cargo testflow merge testflow-out/run-shard-*.json -o testflow-out/merged"
        )
    );
    assert!(gate_script(3).ends_with("cargo testflow gate --run testflow-out/merged\n"));
    assert!(gate_script(3).contains("of 3 shard runs arrived"));
}

#[test]
fn a_testflow_checkout_installs_from_itself_and_the_flag_wins() {
    let shape = ProjectShape {
        testflow_checkout: true,
        ..mixed()
    };
    let install = default_install(&shape, "unused", false);
    assert_eq!(
        install,
        "cargo install --locked --path ./cargo-testflow\npython -m pip install ./python\nnpm install --no-save ./npm\n"
    );
    assert_eq!(
        default_install(&shape, "unused", true),
        "cargo install --locked --path ./cargo-testflow\n"
    );
    let opts = Options {
        install: Some("cargo binstall cargo-testflow".into()),
        ..Options::default()
    };
    let yaml = generate(Ci::Github, &shape, &opts).unwrap();
    assert!(yaml.contains("cargo binstall cargo-testflow"));
    assert!(!yaml.contains("cargo install"));
}

#[test]
fn nothing_to_test_and_too_many_shards_are_errors() {
    assert!(generate(Ci::Github, &ProjectShape::default(), &Options::default()).is_err());
    let opts = Options {
        shards: 201,
        ..Options::default()
    };
    assert!(generate(Ci::Gitlab, &rust_only(), &opts).is_err());
}

#[test]
fn every_framework_is_split_across_the_shards() {
    // Mixed and Python-only projects get N shard jobs with the same command: the engine
    // splits Rust and pytest tests by test and Jest by file.
    for shape in [
        mixed(),
        ProjectShape {
            python: true,
            ..ProjectShape::default()
        },
    ] {
        let gl = generate(
            Ci::Gitlab,
            &shape,
            &Options {
                shards: 3,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(
            !gl.contains("--framework"),
            "no shard is limited to one framework"
        );
        assert_eq!(parse(Ci::Gitlab, &shape, 3)["testflow-test"]["parallel"], 3);
    }
}

fn with_coverage(shards: u32) -> Options {
    Options {
        shards,
        coverage: true,
        ..Options::default()
    }
}

#[test]
fn github_snapshot_mixed_3_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Github, &mixed(), &with_coverage(3)).unwrap());
}

#[test]
fn gitlab_snapshot_mixed_3_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Gitlab, &mixed(), &with_coverage(3)).unwrap());
}

#[test]
fn circleci_snapshot_mixed_3_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Circleci, &mixed(), &with_coverage(3)).unwrap());
}

#[test]
fn github_snapshot_rust_2_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Github, &rust_only(), &with_coverage(2)).unwrap());
}

#[test]
fn gitlab_snapshot_rust_2_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Gitlab, &rust_only(), &with_coverage(2)).unwrap());
}

#[test]
fn circleci_snapshot_rust_2_shards_coverage() {
    insta::assert_snapshot!(generate(Ci::Circleci, &rust_only(), &with_coverage(2)).unwrap());
}

#[test]
fn coverage_tools_follow_the_frameworks_and_a_custom_install() {
    let jest_only = ProjectShape {
        node: true,
        ..ProjectShape::default()
    };
    let python_only = ProjectShape {
        python: true,
        ..ProjectShape::default()
    };
    assert_eq!(
        coverage_install(&jest_only),
        "",
        "Jest's --coverage is built in"
    );
    assert_eq!(
        coverage_install(&python_only),
        "python -m pip install pytest-cov\n"
    );
    assert_eq!(
        coverage_install(&rust_only()),
        "rustup component add llvm-tools-preview\ncargo install --locked cargo-llvm-cov\n"
    );
    // --testflow-install replaces testflow's install, not the coverage tools; the merge
    // job (engine only) needs none of them.
    let opts = Options {
        install: Some("cargo binstall cargo-testflow".into()),
        ..with_coverage(2)
    };
    assert_eq!(
        install_script(&mixed(), &opts, false),
        "cargo binstall cargo-testflow\nrustup component add llvm-tools-preview\ncargo install --locked cargo-llvm-cov\npython -m pip install pytest-cov\n"
    );
    assert_eq!(
        install_script(&mixed(), &opts, true),
        "cargo binstall cargo-testflow\n"
    );
    // And pytest-cov goes where the pytest plugin does: GitLab's virtualenv is set up first.
    let gl = generate(Ci::Gitlab, &mixed(), &with_coverage(2)).unwrap();
    let venv = gl.find("python3 -m venv .venv").unwrap();
    assert!(gl.find("python -m pip install pytest-cov").unwrap() > venv);
}

#[test]
fn coverage_off_changes_nothing_and_on_changes_the_commands() {
    assert_eq!(
        shard_script("1", false),
        "cargo testflow run --report junit=testflow-out/junit-shard-1.xml --report json=testflow-out/run-shard-1.json\n"
    );
    assert!(shard_script("1", true).starts_with("cargo testflow run --coverage --report "));
    assert!(!merge_script(false).contains("coverage"));
    assert!(merge_script(true).starts_with(&merge_script(false)));
    assert!(merge_script(true).ends_with(&coverage_report_script()));
    assert_eq!(
        coverage_report_script().lines().count(),
        1,
        "one GitLab script line"
    );
    for ci in Ci::ALL {
        for shape in [mixed(), rust_only()] {
            let off = generate(ci, &shape, &Options::default()).unwrap();
            assert!(!off.contains("coverage"), "{}", ci.name());
            let on = generate(ci, &shape, &with_coverage(1)).unwrap();
            assert!(
                on.contains("cargo testflow run --coverage"),
                "{}",
                ci.name()
            );
            assert!(on.contains("--format cobertura -o testflow-out/coverage.xml"));
        }
    }
}

#[test]
fn each_ci_gets_the_merged_coverage_where_it_shows_it() {
    let gh: Value =
        serde_yaml_ng::from_str(&generate(Ci::Github, &mixed(), &with_coverage(3)).unwrap())
            .unwrap();
    let upload = gh["jobs"]["merge"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["with"]["name"] == "testflow-coverage")
        .expect("a coverage artifact");
    assert_eq!(
        upload["with"]["path"].as_str(),
        Some("testflow-out/merged/coverage/merged.lcov\ntestflow-out/coverage.xml\n")
    );
    assert_eq!(upload["if"].as_str(), Some("always()"));

    let gl: Value =
        serde_yaml_ng::from_str(&generate(Ci::Gitlab, &mixed(), &with_coverage(3)).unwrap())
            .unwrap();
    let merge = &gl["testflow-merge"];
    let report = &merge["artifacts"]["reports"]["coverage_report"];
    assert_eq!(report["coverage_format"].as_str(), Some("cobertura"));
    assert_eq!(report["path"].as_str(), Some(COBERTURA));
    assert_eq!(merge["coverage"].as_str(), Some(GITLAB_COVERAGE_REGEX));
    assert!(gl["testflow-test"].get("coverage").is_none());

    let cc: Value =
        serde_yaml_ng::from_str(&generate(Ci::Circleci, &mixed(), &with_coverage(3)).unwrap())
            .unwrap();
    let stored: Vec<&str> = cc["jobs"]["testflow-merge"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["store_artifacts"]["path"].as_str())
        .collect();
    assert_eq!(stored, [OUT_DIR, MERGED_LCOV, COBERTURA]);
}

#[test]
fn the_gitlab_coverage_regex_matches_the_line_testflow_prints() {
    use crate::coverage::{Ratio, Totals};
    let inner = GITLAB_COVERAGE_REGEX
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .expect("GitLab wants /regex/");
    let re = regex::Regex::new(inner).unwrap();
    let number = regex::Regex::new(r"\d+(?:\.\d+)?").unwrap();
    let mut cov = crate::model::RunCoverage {
        reports: vec![],
        frameworks: vec![],
        totals: Totals {
            lines: Ratio::new(26, 34),
            branches: Ratio::new(0, 0),
            functions: Ratio::new(5, 7),
        },
        files: vec![],
        previous: None,
    };
    for color in [false, true] {
        let style = crate::ui::Style {
            color,
            bar: false,
            quiet: false,
        };
        let line = crate::ui::coverage_line(&cov, style);
        let m = re.find(&line).unwrap_or_else(|| panic!("{line}"));
        // GitLab takes the first number of the match.
        assert_eq!(number.find(m.as_str()).unwrap().as_str(), "76.5", "{line}");
    }
    // No lines measured: nothing for GitLab to show, rather than a wrong number.
    cov.totals.lines = Ratio::new(0, 0);
    let line = crate::ui::coverage_line(
        &cov,
        crate::ui::Style {
            color: false,
            bar: false,
            quiet: false,
        },
    );
    assert!(!re.is_match(&line), "{line}");
}

/// A fake git: each command line's answer, `None` for the rest.
fn fake_git(
    answers: &'static [(&'static str, &'static str)],
) -> impl Fn(&[&str]) -> Option<String> {
    move |args: &[&str]| {
        let line = args.join(" ");
        answers
            .iter()
            .find(|(cmd, _)| *cmd == line)
            .map(|(_, out)| (*out).to_owned())
    }
}

const IN_REPO: (&str, &str) = ("rev-parse --git-dir", ".git");

#[test]
fn the_default_branch_comes_from_origin_then_init_default_branch_then_the_current_branch() {
    let origin = fake_git(&[
        IN_REPO,
        (
            "symbolic-ref --quiet refs/remotes/origin/HEAD",
            "refs/remotes/origin/trunk",
        ),
        ("config --get init.defaultBranch", "master"),
        ("symbolic-ref --quiet --short HEAD", "feature"),
    ]);
    let b = DefaultBranch::detect_with(&origin);
    assert_eq!(b.name, "trunk");
    assert!(b.how.starts_with("from origin's HEAD"), "{}", b.how);

    let init = fake_git(&[
        IN_REPO,
        ("config --get init.defaultBranch", "trunk"),
        ("symbolic-ref --quiet --short HEAD", "main"),
    ]);
    let b = DefaultBranch::detect_with(&init);
    assert_eq!(b.name, "trunk");
    assert!(b.how.contains("init.defaultBranch"), "{}", b.how);

    let current = fake_git(&[IN_REPO, ("symbolic-ref --quiet --short HEAD", "master")]);
    let b = DefaultBranch::detect_with(&current);
    assert_eq!(b.name, "master");
    assert!(b.how.starts_with("the current branch"), "{}", b.how);

    // A feature branch is not taken for the default branch.
    let feature = fake_git(&[IN_REPO, ("symbolic-ref --quiet --short HEAD", "fix-1")]);
    assert_eq!(
        DefaultBranch::detect_with(&feature),
        DefaultBranch::assumed()
    );
    let none = fake_git(&[]);
    let b = DefaultBranch::detect_with(&none);
    assert_eq!(b.name, "main");
    assert!(b.how.contains("not in a git repository"), "{}", b.how);
}

#[test]
fn github_pushes_run_on_the_default_branch_and_every_header_says_which() {
    let opts = Options {
        branch: DefaultBranch {
            name: "trunk".into(),
            how: "from origin's HEAD (x)".into(),
        },
        ..Options::default()
    };
    let text = generate(Ci::Github, &rust_only(), &opts).unwrap();
    let gh: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        gh["on"]["push"]["branches"],
        serde_yaml_ng::from_str::<Value>("[trunk]").unwrap()
    );
    assert!(!text.contains("- main"), "{text}");
    for ci in [Ci::Github, Ci::Gitlab, Ci::Circleci] {
        let text = generate(ci, &rust_only(), &opts).unwrap();
        assert!(
            text.contains("# Default branch: trunk (")
                && text.contains("\n# from origin's HEAD (x).\n"),
            "{text}"
        );
    }
}

#[test]
fn a_given_branch_must_be_a_branch_name() {
    assert_eq!(
        DefaultBranch::given("release/2.x").unwrap().name,
        "release/2.x"
    );
    for bad in ["", "a b", "-x", "a..b", "x\ny", "a:b"] {
        assert!(DefaultBranch::given(bad).is_err(), "{bad:?}");
    }
}
