use super::*;

fn mixed() -> ProjectShape {
    ProjectShape {
        rust: true,
        python: true,
        node: true,
        npm_lock: true,
        requirements: true,
        testflow_checkout: false,
        toolchains: Vec::new(),
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
fn a_testflow_checkout_builds_itself_cached_by_commit_and_the_flag_wins() {
    let shape = ProjectShape {
        testflow_checkout: true,
        ..mixed()
    };
    let opts = Options::default();
    assert_eq!(
        build_script(&shape, &opts),
        "cargo install --locked --root testflow-dist --path ./cargo-testflow\n\
         python -m pip wheel --no-deps --wheel-dir testflow-dist ./python\n\
         node ./npm/scripts/build.js\n\
         npm pack --pack-destination testflow-dist ./npm\n"
    );
    let gh = parse_with(Ci::Github, &shape, &opts);
    let install = &gh["jobs"]["install"]["steps"];
    assert_eq!(install[0]["uses"].as_str(), Some("actions/checkout@v4"));
    let key = install[1]["with"]["key"].as_str().unwrap();
    assert!(key.contains("${{ github.sha }}"), "{key}");
    let opts = Options {
        install: Some("cargo binstall cargo-testflow".into()),
        ..Options::default()
    };
    for ci in Ci::ALL {
        let yaml = generate(ci, &shape, &opts).unwrap();
        assert!(
            yaml.contains("cargo binstall cargo-testflow"),
            "{}",
            ci.name()
        );
        assert!(!yaml.contains("cargo install"), "{}", ci.name());
        assert!(!yaml.contains("testflow-install:") && !yaml.contains("testflow-dist"));
    }
    assert!(
        parse_with(Ci::Github, &shape, &opts)["jobs"]
            .get("install")
            .is_none()
    );
}

fn parse_with(ci: Ci, shape: &ProjectShape, opts: &Options) -> Value {
    serde_yaml_ng::from_str(&generate(ci, shape, opts).unwrap()).unwrap()
}

/// Every shell command of `job` (GitHub and CircleCI steps, GitLab scripts), one string.
fn job_shell(ci: Ci, job: &Value) -> String {
    let mut out = String::new();
    match ci {
        Ci::Gitlab => {
            for key in ["before_script", "script"] {
                for l in job[key].as_sequence().into_iter().flatten() {
                    out.push_str(l.as_str().unwrap());
                    out.push('\n');
                }
            }
        }
        Ci::Github | Ci::Circleci => {
            for step in job["steps"].as_sequence().unwrap() {
                let run = match ci {
                    Ci::Github => step["run"].as_str(),
                    _ => step["run"]["command"].as_str(),
                };
                if let Some(r) = run {
                    out.push_str(r);
                }
            }
        }
    }
    out
}

/// The install, shard and merge jobs of a pipeline.
fn jobs(ci: Ci, v: &Value) -> [&Value; 3] {
    match ci {
        Ci::Github => [
            &v["jobs"]["install"],
            &v["jobs"]["test"],
            &v["jobs"]["merge"],
        ],
        Ci::Gitlab => [
            &v["testflow-install"],
            &v["testflow-test"],
            &v["testflow-merge"],
        ],
        Ci::Circleci => [
            &v["jobs"]["testflow-install"],
            &v["jobs"]["testflow-test"],
            &v["jobs"]["testflow-merge"],
        ],
    }
}

#[test]
fn every_pipeline_pins_the_version_in_a_variable_at_the_top() {
    for version in [env!("CARGO_PKG_VERSION"), "0.2.0-rc.1"] {
        let opts = Options {
            shards: 3,
            version: version.into(),
            ..Options::default()
        };
        for ci in Ci::ALL {
            let text = generate(ci, &mixed(), &opts).unwrap();
            let v: Value = serde_yaml_ng::from_str(&text).unwrap();
            let (pinned, rust) = match ci {
                Ci::Github => (&v["env"][VERSION_VAR], &v["env"][RUST_VAR]),
                Ci::Gitlab => (&v["variables"][VERSION_VAR], &v["variables"][RUST_VAR]),
                Ci::Circleci => (
                    &v["parameters"]["testflow-version"]["default"],
                    &v["parameters"]["testflow-rust"]["default"],
                ),
            };
            assert_eq!(pinned.as_str(), Some(version), "{}", ci.name());
            assert_eq!(rust.as_str(), Some(BUILD_RUST), "{}", ci.name());
            // At the top of the file, before any job.
            let (top, first_job) = match ci {
                Ci::Github => ("\nenv:\n", "\njobs:\n"),
                Ci::Gitlab => ("\nvariables:\n", "\ntestflow-install:\n"),
                Ci::Circleci => ("\nparameters:\n", "\njobs:\n"),
            };
            assert!(
                text.find(top).unwrap() < text.find(first_job).unwrap(),
                "{text}"
            );
            assert!(
                text.contains("# testflow is pinned: ") && text.contains(&format!("= {version} ")),
                "{text}"
            );
            // The install job builds that tag, locked.
            let install = job_shell(ci, jobs(ci, &v)[0]);
            assert!(
                install.contains(
                    "git clone --quiet --depth 1 --branch \"v$TESTFLOW_VERSION\" https://github.com/testflow/testflow testflow-src\n"
                ),
                "{install}"
            );
            assert!(install.contains(
                "cargo install --locked --root testflow-dist --path testflow-src/cargo-testflow\n"
            ));
            // And the jobs get the variable: CircleCI from the pipeline parameter.
            if ci == Ci::Circleci {
                for job in jobs(ci, &v) {
                    assert_eq!(
                        job["environment"][VERSION_VAR].as_str(),
                        Some("<< pipeline.parameters.testflow-version >>")
                    );
                }
            }
        }
    }
    for bad in ["", "v0.1.0", "latest", "0.1 .0", "0.1.0;rm", "../x"] {
        let opts = Options {
            version: bad.into(),
            ..Options::default()
        };
        let err = format!(
            "{:#}",
            generate(Ci::Github, &rust_only(), &opts).unwrap_err()
        );
        assert!(
            err.contains(&format!("`{bad}` is not a testflow version")),
            "{err}"
        );
    }
}

#[test]
fn one_install_job_builds_everything_and_shards_never_compile() {
    let compiles = [
        "cargo install",
        "cargo build",
        "maturin",
        "pip wheel",
        "pip install ./python",
        "/python\n",
        "npm pack",
        "scripts/build.js",
        "npm install --no-save ./npm",
        "git clone",
    ];
    let rust_cov = Options {
        shards: 2,
        coverage: true,
        ..Options::default()
    };
    let plain = Options {
        shards: 3,
        ..Options::default()
    };
    for ci in Ci::ALL {
        for (shape, opts) in [
            (mixed(), &plain),
            (mixed(), &rust_cov),
            (rust_only(), &rust_cov),
        ] {
            let v = parse_with(ci, &shape, opts);
            let [install, test, merge] = jobs(ci, &v);
            let built = job_shell(ci, install);
            assert!(
                built.contains("cargo install --locked --root testflow-dist"),
                "{built}"
            );
            assert_eq!(
                built.contains("pip wheel --no-deps --wheel-dir testflow-dist"),
                shape.python
            );
            assert_eq!(
                built.contains("npm pack --pack-destination testflow-dist"),
                shape.node
            );
            assert_eq!(
                built.contains(
                    "cargo install --locked --root testflow-dist cargo-llvm-cov --version 0.9.1\n"
                ),
                opts.coverage && shape.rust
            );
            for (name, job) in [("shard", test), ("merge", merge)] {
                let shell = job_shell(ci, job);
                for c in compiles {
                    assert!(
                        !shell.contains(c),
                        "{} {name} job runs `{c}`:\n{shell}",
                        ci.name()
                    );
                }
                assert!(shell.contains("chmod +x testflow-dist/bin/*"), "{shell}");
            }
            let shard = job_shell(ci, test);
            assert_eq!(
                shard.contains(
                    "python -m pip install --no-index --find-links testflow-dist pytest-testflow\n"
                ),
                shape.python
            );
            assert_eq!(
                shard.contains("npm install --no-save --no-audit --no-fund ./testflow-dist/jest-testflow-*.tgz\n"),
                shape.node
            );
            // The shards and the merge wait for the install job and get its build.
            match ci {
                Ci::Github => {
                    assert_eq!(test["needs"].as_str(), Some("install"));
                    assert_eq!(
                        merge["needs"],
                        serde_yaml_ng::from_str::<Value>("[install, test]").unwrap()
                    );
                    for job in [test, merge] {
                        assert!(job["steps"].as_sequence().unwrap().iter().any(|s| {
                            s["uses"] == "actions/download-artifact@v4"
                                && s["with"]["name"] == DIST_DIR
                        }));
                    }
                    let up = install["steps"].as_sequence().unwrap().last().unwrap();
                    assert_eq!(up["uses"].as_str(), Some("actions/upload-artifact@v4"));
                    assert_eq!(up["with"]["if-no-files-found"].as_str(), Some("error"));
                }
                Ci::Gitlab => {
                    assert_eq!(install["stage"].as_str(), Some("install"));
                    assert_eq!(v["stages"][0].as_str(), Some("install"));
                    for job in [test, merge] {
                        assert_eq!(job["needs"][0]["job"].as_str(), Some("testflow-install"));
                        assert_eq!(job["needs"][0]["artifacts"], Value::Bool(true));
                    }
                    assert_eq!(
                        install["artifacts"]["paths"][0].as_str(),
                        Some("testflow-dist/")
                    );
                }
                Ci::Circleci => {
                    let wf = &v["workflows"]["testflow"]["jobs"];
                    assert_eq!(wf[0].as_str(), Some("testflow-install"));
                    assert_eq!(
                        wf[1]["testflow-test"]["requires"][0].as_str(),
                        Some("testflow-install")
                    );
                    let persisted = install["steps"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .find_map(|s| s["persist_to_workspace"]["paths"].as_sequence())
                        .unwrap();
                    assert_eq!(persisted, &vec![Value::from(DIST_DIR)]);
                    for job in [test, merge] {
                        assert!(
                            job["steps"]
                                .as_sequence()
                                .unwrap()
                                .iter()
                                .any(|s| s.get("attach_workspace").is_some())
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_build_is_cached_by_version_os_and_toolchain_and_a_hit_skips_it() {
    let opts = Options {
        shards: 2,
        ..Options::default()
    };
    let gh = parse_with(Ci::Github, &mixed(), &opts);
    let steps = gh["jobs"]["install"]["steps"].as_sequence().unwrap();
    assert_eq!(steps[0]["id"].as_str(), Some("dist"));
    assert_eq!(steps[0]["uses"].as_str(), Some("actions/cache@v4"));
    assert_eq!(
        steps[0]["with"]["key"].as_str(),
        Some(
            "testflow-dist-v1-${{ env.TESTFLOW_VERSION }}-${{ runner.os }}-${{ runner.arch }}-rust${{ env.TESTFLOW_RUST }}-py+node"
        )
    );
    // Everything between the cache and the upload runs only on a miss.
    for step in &steps[1..steps.len() - 1] {
        assert_eq!(step["if"].as_str(), Some(GH_DIST_MISS), "{step:?}");
    }
    assert!(
        steps.last().unwrap().get("if").is_none(),
        "uploaded on a hit too"
    );

    let gl = parse_with(Ci::Gitlab, &mixed(), &opts);
    let install = &gl["testflow-install"];
    assert_eq!(install["image"].as_str(), Some("rust:$TESTFLOW_RUST"));
    assert_eq!(
        install["cache"][0]["key"].as_str(),
        Some("testflow-dist-v1-$TESTFLOW_VERSION-linux-rust$TESTFLOW_RUST-py+node")
    );
    let script = install["script"].as_sequence().unwrap();
    assert_eq!(script.len(), 1, "one command: a hit skips all of it");
    assert!(
        script[0]
            .as_str()
            .unwrap()
            .starts_with("if [ -x testflow-dist/bin/cargo-testflow ]; then\n")
    );

    let cc = parse_with(Ci::Circleci, &mixed(), &opts);
    let steps = cc["jobs"]["testflow-install"]["steps"]
        .as_sequence()
        .unwrap();
    let key = "testflow-dist-v1-<< pipeline.parameters.testflow-version >>-{{ arch }}-rust<< pipeline.parameters.testflow-rust >>-py+node";
    assert_eq!(steps[0]["restore_cache"]["keys"][0].as_str(), Some(key));
    assert_eq!(steps[2]["save_cache"]["key"].as_str(), Some(key));
    assert!(
        steps[1]["run"]["command"]
            .as_str()
            .unwrap()
            .starts_with("if [ -x testflow-dist/bin/cargo-testflow ]; then\n")
    );

    // A different set of doors is a different build.
    let rust_key =
        parse_with(Ci::Gitlab, &rust_only(), &opts)["testflow-install"]["cache"][0]["key"].clone();
    assert_eq!(
        rust_key.as_str(),
        Some("testflow-dist-v1-$TESTFLOW_VERSION-linux-rust$TESTFLOW_RUST")
    );
}

#[test]
fn the_merge_job_alone_saves_the_history_and_branches_fall_back_to_the_default_branch() {
    let opts = Options {
        shards: 3,
        branch: DefaultBranch::given("trunk").unwrap(),
        ..Options::default()
    };
    let gh = parse_with(Ci::Github, &mixed(), &opts);
    let history_steps = |job: &Value| -> Vec<String> {
        job["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|s| s["with"]["path"] == HISTORY_DB)
            .map(|s| s["uses"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        history_steps(&gh["jobs"]["test"]),
        ["actions/cache/restore@v4"]
    );
    assert_eq!(
        history_steps(&gh["jobs"]["merge"]),
        ["actions/cache/restore@v4", "actions/cache/save@v4"]
    );
    assert!(history_steps(&gh["jobs"]["install"]).is_empty());
    let restore = gh["jobs"]["test"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["with"]["path"] == HISTORY_DB)
        .unwrap();
    assert_eq!(
        restore["with"]["restore-keys"].as_str(),
        Some(
            "testflow-history-${{ github.ref_name }}-\ntestflow-history-${{ github.event.repository.default_branch }}-\n"
        )
    );

    let gl = parse_with(Ci::Gitlab, &mixed(), &opts);
    let history = |job: &Value| -> Vec<Value> {
        job["cache"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|c| c["paths"][0] == HISTORY_DB)
            .cloned()
            .collect()
    };
    assert!(history(&gl["testflow-install"]).is_empty());
    let shard = history(&gl["testflow-test"]);
    let merge = history(&gl["testflow-merge"]);
    assert_eq!((shard.len(), merge.len()), (1, 1));
    assert_eq!(shard[0]["policy"].as_str(), Some("pull"));
    assert_eq!(merge[0]["policy"].as_str(), Some("pull-push"));
    for c in [&shard[0], &merge[0]] {
        assert_eq!(
            c["key"].as_str(),
            Some("testflow-history-$CI_COMMIT_REF_SLUG")
        );
        assert_eq!(
            c["fallback_keys"][0].as_str(),
            Some("testflow-history-$CI_DEFAULT_BRANCH")
        );
    }

    let cc = parse_with(Ci::Circleci, &mixed(), &opts);
    let saves = |job: &str| -> Vec<String> {
        cc["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|s| s["save_cache"]["paths"][0] == HISTORY_DB)
            .map(|s| s["save_cache"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(saves("testflow-install").is_empty() && saves("testflow-test").is_empty());
    assert_eq!(
        saves("testflow-merge"),
        ["testflow-history-v1-{{ .Branch }}-{{ epoch }}"]
    );
    for job in ["testflow-test", "testflow-merge"] {
        let keys = cc["jobs"][job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|s| {
                s["restore_cache"]["keys"]
                    .as_sequence()
                    .filter(|k| k[0].as_str().unwrap().starts_with("testflow-history-"))
            })
            .unwrap();
        assert_eq!(
            keys,
            &vec![
                Value::from("testflow-history-v1-{{ .Branch }}-"),
                Value::from("testflow-history-v1-trunk-")
            ]
        );
    }
    // Fork-safe: nothing needs a token or a write permission.
    for ci in Ci::ALL {
        let text = generate(ci, &mixed(), &opts).unwrap();
        assert!(
            !text.contains("secrets.") && !text.contains("TOKEN"),
            "{}",
            ci.name()
        );
    }
    assert_eq!(
        gh["permissions"],
        serde_yaml_ng::from_str::<Value>("{contents: read}").unwrap()
    );
}

#[test]
fn gitlab_gets_the_merged_junit_report() {
    let gl = parse(Ci::Gitlab, &mixed(), 3);
    assert_eq!(
        gl["testflow-merge"]["artifacts"]["reports"]["junit"].as_str(),
        Some("testflow-out/junit.xml")
    );
    assert_eq!(
        gl["testflow-merge"]["artifacts"]["when"].as_str(),
        Some("always")
    );
    assert!(merge_script(false).contains("--format junit -o testflow-out/junit.xml\n"));
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
        coverage_install(&jest_only, false),
        "",
        "Jest's --coverage is built in"
    );
    assert_eq!(
        coverage_install(&python_only, false),
        "python -m pip install pytest-cov\n"
    );
    assert_eq!(
        coverage_install(&rust_only(), false),
        "rustup component add llvm-tools-preview\ncargo install --locked cargo-llvm-cov\n"
    );
    assert_eq!(
        coverage_install(&rust_only(), true),
        "rustup component add llvm-tools-preview\n",
        "cargo-llvm-cov came from the install job"
    );
    // --testflow-install replaces testflow's install, not the coverage tools; the merge
    // job needs none of them.
    let opts = Options {
        install: Some("cargo binstall cargo-testflow".into()),
        ..with_coverage(2)
    };
    assert_eq!(
        install_script(&mixed(), &opts, OnPath::Export, true),
        "cargo binstall cargo-testflow\nrustup component add llvm-tools-preview\ncargo install --locked cargo-llvm-cov\npython -m pip install pytest-cov\n"
    );
    assert_eq!(
        install_script(&mixed(), &opts, OnPath::Export, false),
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

#[test]
fn a_go_module_gets_its_toolchain_from_its_plugin_in_every_ci() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module ex.com/m\n\ngo 1.22\n").unwrap();
    let shape = ProjectShape::detect(dir.path());
    assert!(!shape.is_empty());
    assert_eq!(shape.toolchains.len(), 1);
    let gh = parse(Ci::Github, &shape, 2);
    let steps = jobs(Ci::Github, &gh)[1]["steps"].as_sequence().unwrap();
    let go = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("actions/setup-go@v5"))
        .expect("setup-go in the shard job");
    assert_eq!(go["with"]["go-version-file"].as_str(), Some("go.mod"));
    assert!(
        !job_shell(Ci::Github, jobs(Ci::Github, &gh)[2]).contains("go.dev"),
        "the merge job needs no go"
    );
    for ci in [Ci::Gitlab, Ci::Circleci] {
        let v = parse(ci, &shape, 2);
        let shell = job_shell(ci, jobs(ci, &v)[1]);
        assert!(
            shell.contains("https://go.dev/dl/go$v.linux-amd64.tar.gz"),
            "{ci:?}: {shell}"
        );
        assert!(shell.contains("go version"), "{ci:?}");
    }
    // The script reads go.mod's version (`go 1.22` is the release go1.22.0).
    let script_dir = tempfile::tempdir().unwrap();
    std::fs::write(script_dir.path().join("go.mod"), "module m\n\ngo 1.22\n").unwrap();
    let probe = crate::frameworks::go::ci_go_script("go.mod")
        .lines()
        .filter(|l| l.trim_start().starts_with("v=") || l.trim_start().starts_with("case"))
        .collect::<Vec<_>>()
        .join("\n");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{probe}\necho \"$v\""))
        .current_dir(script_dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.22.0");
}

#[test]
fn a_go_module_below_the_root_gets_its_toolchain_from_its_go_mod() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services/api")).unwrap();
    std::fs::write(
        dir.path().join("services/api/go.mod"),
        "module ex.com/api\n\ngo 1.23\n",
    )
    .unwrap();
    let shape = ProjectShape::detect(dir.path());
    assert_eq!(shape.toolchains.len(), 1, "{:?}", shape.toolchains);
    let gh = parse(Ci::Github, &shape, 2);
    let steps = jobs(Ci::Github, &gh)[1]["steps"].as_sequence().unwrap();
    let go = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("actions/setup-go@v5"))
        .expect("setup-go in the shard job");
    assert_eq!(
        go["with"]["go-version-file"].as_str(),
        Some("services/api/go.mod")
    );
    let script = crate::frameworks::go::ci_go_script("services/api/go.mod");
    let probe: Vec<&str> = script
        .lines()
        .filter(|l| l.trim_start().starts_with("v=") || l.trim_start().starts_with("case"))
        .collect();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{}\necho \"$v\"", probe.join("\n")))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.23.0");
}

fn with_affected(shards: u32) -> Options {
    Options {
        shards,
        affected: true,
        ..Options::default()
    }
}

#[test]
fn github_snapshot_mixed_3_shards_affected() {
    insta::assert_snapshot!(generate(Ci::Github, &mixed(), &with_affected(3)).unwrap());
}

#[test]
fn gitlab_snapshot_mixed_3_shards_affected() {
    insta::assert_snapshot!(generate(Ci::Gitlab, &mixed(), &with_affected(3)).unwrap());
}

#[test]
fn circleci_snapshot_mixed_3_shards_affected() {
    insta::assert_snapshot!(generate(Ci::Circleci, &mixed(), &with_affected(3)).unwrap());
}

#[test]
fn affected_shards_select_with_a_base_and_record_without_one() {
    let script = affected_shard_script("1", false);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.len(), 3, "{script}");
    assert!(
        lines[0].contains(
            "printf '%s\\n' .testflow/ testflow-out/ testflow-dist/ .cache/ .venv/ >> \"$exclude\""
        ),
        "the jobs' own files are no change: {}",
        lines[0]
    );
    let lines = &lines[1..];
    assert_eq!(
        lines[0],
        "if [ -n \"${TESTFLOW_BASE:-}\" ]; then affected=\"--affected --since=$TESTFLOW_BASE\"; else affected=\"--affected=record\"; fi"
    );
    assert_eq!(
        format!("{}\n", lines[1]),
        shard_script("1", false).replacen("run", "run $affected", 1)
    );
    assert!(affected_shard_script("1", true).contains("cargo testflow run $affected --coverage"));
    // Off by default: no pipeline changes.
    for ci in Ci::ALL {
        let off = generate(ci, &mixed(), &Options::default()).unwrap();
        assert!(!off.contains("affected"), "{}", ci.name());
        let on = generate(ci, &mixed(), &with_affected(2)).unwrap();
        assert!(on.contains("cargo testflow run $affected"), "{}", ci.name());
        assert!(on.contains("--affected`"), "the header names the flag");
    }
}

#[test]
fn github_pull_requests_count_from_their_fetched_base_commit() {
    let v: Value =
        serde_yaml_ng::from_str(&generate(Ci::Github, &rust_only(), &with_affected(2)).unwrap())
            .unwrap();
    let test = &v["jobs"]["test"];
    assert_eq!(
        test["env"]["TESTFLOW_BASE"].as_str(),
        Some("${{ github.event.pull_request.base.sha }}"),
        "a commit, the same for every shard (the branch may move)"
    );
    assert_eq!(
        test["env"]["TESTFLOW_SHARD"].as_str(),
        Some("${{ matrix.shard }}/2")
    );
    let steps = test["steps"].as_sequence().unwrap();
    let at = |needle: &str| {
        steps
            .iter()
            .position(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
    };
    let fetch = at("git fetch --no-tags --depth=1 origin \"$TESTFLOW_BASE\"");
    assert_eq!(
        steps[fetch]["if"].as_str(),
        Some("github.event_name == 'pull_request'")
    );
    assert!(fetch < at("cargo testflow run $affected"));
    // The history the pull requests restore falls back to the default branch's, which
    // the merge job saves after each push (with the dependencies the shards recorded).
    let restore = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("actions/cache/restore@v4"))
        .unwrap();
    assert!(
        restore["with"]["restore-keys"]
            .as_str()
            .unwrap()
            .contains("testflow-history-${{ github.event.repository.default_branch }}-")
    );
}

#[test]
fn gitlab_merge_requests_count_from_the_diff_base_with_a_full_clone() {
    let v: Value =
        serde_yaml_ng::from_str(&generate(Ci::Gitlab, &rust_only(), &with_affected(2)).unwrap())
            .unwrap();
    let rules = v["workflow"]["rules"]
        .as_sequence()
        .expect("workflow rules");
    assert_eq!(
        rules[0]["if"].as_str(),
        Some("$CI_PIPELINE_SOURCE == \"merge_request_event\"")
    );
    assert_eq!(
        rules[1]["when"].as_str(),
        Some("never"),
        "no duplicate pipelines"
    );
    let test = &v["testflow-test"];
    assert_eq!(test["variables"]["GIT_DEPTH"].as_str(), Some("0"));
    let script: Vec<&str> = test["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        script[0],
        "export TESTFLOW_BASE=\"${TESTFLOW_BASE:-${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}}\""
    );
    assert!(script[3].starts_with("cargo testflow run $affected "));
    // Without --affected: no workflow rules (GitLab's default pipelines stay).
    let plain: Value =
        serde_yaml_ng::from_str(&generate(Ci::Gitlab, &rust_only(), &Options::default()).unwrap())
            .unwrap();
    assert!(plain.get("workflow").is_none());
}

#[test]
fn circleci_has_no_target_branch_and_runs_everything_unless_told() {
    let yaml = generate(Ci::Circleci, &rust_only(), &with_affected(2)).unwrap();
    assert!(yaml.contains("CircleCI gives a job no pull request target branch"));
    let v: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let env = &v["jobs"]["testflow-test"]["environment"];
    assert!(env.get("TESTFLOW_BASE").is_none(), "nothing sets a base");
    assert!(
        yaml.contains("else affected=\\\"--affected=record\\\"")
            || yaml.contains("--affected=record")
    );
}

/// A Playwright project whose configuration uses Firefox and an iPhone (WebKit).
fn playwright_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{ "devDependencies": { "@playwright/test": "1.65.1" } }"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("package-lock.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("playwright.config.js"),
        "module.exports = { projects: [\n  { name: 'ff', use: { browserName: 'firefox' } },\n  { name: 'phone', use: { ...devices['iPhone 13'] } },\n] };\n",
    )
    .unwrap();
    dir
}

#[test]
fn a_playwright_project_installs_its_browsers_cached_by_version_in_every_ci() {
    let dir = playwright_project();
    let shape = ProjectShape::detect(dir.path());
    assert!(shape.node);
    assert_eq!(shape.toolchains.len(), 1, "{:?}", shape.toolchains);
    let install = "npx playwright install --with-deps firefox webkit";
    for ci in Ci::ALL {
        let v = parse(ci, &shape, 2);
        let [_, test, merge] = jobs(ci, &v);
        let shell = job_shell(ci, test);
        // After the project's own dependencies (npx finds their Playwright), before the tests.
        let deps = shell.find("npm ci").expect("npm ci");
        let at = shell
            .find(install)
            .unwrap_or_else(|| panic!("{ci:?}: {shell}"));
        let run = shell.find("cargo testflow run").expect("the shard's run");
        assert!(deps < at && at < run, "{ci:?}: {shell}");
        assert!(
            !job_shell(ci, merge).contains("playwright"),
            "{ci:?}: the merge job runs no browser"
        );
    }
    // GitHub and CircleCI key the browsers on the installed version.
    let gh = parse(Ci::Github, &shape, 2);
    let steps = jobs(Ci::Github, &gh)[1]["steps"].as_sequence().unwrap();
    let cache = steps
        .iter()
        .find(|s| s["with"]["path"].as_str() == Some("~/.cache/ms-playwright"))
        .expect("a browsers cache");
    assert_eq!(
        cache["with"]["key"].as_str(),
        Some(
            "playwright-browsers-${{ runner.os }}-${{ steps.playwright-browsers-version.outputs.version }}"
        )
    );
    let version = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("playwright-browsers-version"))
        .expect("the version step");
    assert!(
        version["run"]
            .as_str()
            .unwrap()
            .contains("npx playwright --version")
    );
    let cc = parse(Ci::Circleci, &shape, 2);
    let cc_steps = jobs(Ci::Circleci, &cc)[1]["steps"].as_sequence().unwrap();
    let key = "playwright-browsers-v1-{{ arch }}-{{ checksum \"/tmp/testflow-playwright-browsers.version\" }}";
    for step in ["restore_cache", "save_cache"] {
        assert!(
            cc_steps.iter().any(|s| {
                let k = &s[step];
                k["key"].as_str() == Some(key) || k["keys"][0].as_str() == Some(key)
            }),
            "{step}"
        );
    }
    // GitLab caches inside the project, keyed on the lockfile.
    let gl = parse(Ci::Gitlab, &shape, 2);
    let test = jobs(Ci::Gitlab, &gl)[1];
    assert!(
        job_shell(Ci::Gitlab, test)
            .contains("export PLAYWRIGHT_BROWSERS_PATH=\"$CI_PROJECT_DIR/.cache/ms-playwright\"")
    );
    let caches = test["cache"].as_sequence().unwrap();
    assert!(caches.iter().any(|c| {
        c["key"]["prefix"].as_str() == Some("playwright-browsers")
            && c["key"]["files"][0].as_str() == Some("package-lock.json")
            && c["paths"][0].as_str() == Some(".cache/ms-playwright/")
    }));
}

#[test]
fn github_snapshot_playwright_2_shards() {
    let dir = playwright_project();
    let opts = Options {
        shards: 2,
        ..Options::default()
    };
    let shape = ProjectShape::detect(dir.path());
    insta::assert_snapshot!(generate(Ci::Github, &shape, &opts).unwrap());
}

#[test]
fn gitlab_snapshot_playwright_2_shards() {
    let dir = playwright_project();
    let opts = Options {
        shards: 2,
        ..Options::default()
    };
    let shape = ProjectShape::detect(dir.path());
    insta::assert_snapshot!(generate(Ci::Gitlab, &shape, &opts).unwrap());
}

#[test]
fn circleci_snapshot_playwright_2_shards() {
    let dir = playwright_project();
    let opts = Options {
        shards: 2,
        ..Options::default()
    };
    let shape = ProjectShape::detect(dir.path());
    insta::assert_snapshot!(generate(Ci::Circleci, &shape, &opts).unwrap());
}
