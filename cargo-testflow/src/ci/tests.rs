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
