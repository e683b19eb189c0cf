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
