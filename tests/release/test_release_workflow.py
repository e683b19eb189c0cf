"""The release workflow agrees with the installers that will read what it publishes.

Run by tests/run-all.sh with the venv that has check-jsonschema (it brings ruamel.yaml):
    python -m unittest discover -s tests/release -p 'test_*.py'
- every cargo-testflow archive it builds is where `cargo binstall` will look for it
  (cargo-testflow/Cargo.toml [package.metadata.binstall]);
- every addon it builds is a platform npm/platform.js knows, under the same Rust target,
  so the loader (npm/native.js) finds the package npm installs;
- the tag check reads the version the workspace really has.
"""

import json
import pathlib
import re
import subprocess
import tomllib
import unittest

from ruamel.yaml import YAML

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"


def workflow():
    return YAML(typ="safe").load(WORKFLOW.read_text())


def platform_targets():
    out = subprocess.run(
        ["node", "-e", "console.log(JSON.stringify(require('./npm/platform').TARGETS))"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def expand(template, **values):
    return re.sub(r"\{ *([a-z-]+) *\}", lambda m: values[m.group(1)], template)


class ReleaseWorkflow(unittest.TestCase):
    def test_binary_archives_are_where_binstall_looks(self):
        manifest = tomllib.loads((REPO / "cargo-testflow" / "Cargo.toml").read_text())
        meta = manifest["package"]["metadata"]["binstall"]
        package_step = next(
            s for s in workflow()["jobs"]["binary"]["steps"] if s.get("name") == "package"
        )
        script = package_step["run"]
        name_template = re.search(r'name="([^"]+)"', script).group(1)
        for entry in workflow()["jobs"]["binary"]["strategy"]["matrix"]["include"]:
            target = entry["target"]
            windows = "windows" in entry["os"]
            archive = name_template.replace("$TARGET", target).replace("$VERSION", "1.2.3")
            archive += ".zip" if windows else ".tar.gz"
            override = meta.get("overrides", {}).get(target, {})
            url = expand(
                override.get("pkg-url", meta["pkg-url"]),
                repo="R", version="1.2.3", name="cargo-testflow", target=target,
            )
            self.assertEqual(url, f"R/releases/download/v1.2.3/{archive}", target)
            self.assertEqual(override.get("pkg-fmt", meta["pkg-fmt"]), "zip" if windows else "tgz")
            bin_dir = expand(
                meta["bin-dir"], name="cargo-testflow", target=target, version="1.2.3",
                bin="cargo-testflow", **{"binary-ext": ".exe" if windows else ""},
            )
            self.assertEqual(bin_dir.split("/")[0], archive.removesuffix(".zip").removesuffix(".tar.gz"))

    def test_addons_match_the_loaders_platforms(self):
        targets = platform_targets()
        entries = workflow()["jobs"]["addon"]["strategy"]["matrix"]["include"]
        self.assertTrue(entries)
        for entry in entries:
            self.assertIn(entry["key"], targets, entry)
            self.assertEqual(targets[entry["key"]], entry["target"], entry["key"])
        keys = [e["key"] for e in entries]
        self.assertEqual(len(keys), len(set(keys)))

    def test_tag_check_reads_the_workspace_version(self):
        version = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
        script = workflow()["jobs"]["version"]["steps"][1]["run"]
        sed = re.search(r"sed -n '([^']+)' Cargo.toml", script).group(1)
        out = subprocess.run(["sed", "-n", sed, "Cargo.toml"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split("\n")[0]
        self.assertEqual(out, version)

    def test_publishes_only_from_a_tag(self):
        self.assertEqual(workflow()["jobs"]["publish"]["if"], "github.ref_type == 'tag'")


if __name__ == "__main__":
    unittest.main()
