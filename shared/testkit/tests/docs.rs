//! The README says what there is: its table of resources lists every resource of
//! template.yaml (and nothing else), every parameter of the template is named, and its
//! table of environment variables lists exactly what `Config` reads; and docs/cost.md is
//! what `scripts/cost` makes of template.yaml and docs/cost-units.json.

use std::collections::BTreeSet;

const README: &str = include_str!("../../../README.md");

fn template_keys(section: &str) -> BTreeSet<String> {
    let template = reco_testkit::iam::template();
    template[section]
        .as_mapping()
        .unwrap_or_else(|| panic!("template.yaml has {section}"))
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect()
}

/// The names in backticks in the first cell of each row of the table that follows
/// `heading` in the README.
fn first_cells_after(heading: &str) -> BTreeSet<String> {
    let start = README
        .find(heading)
        .unwrap_or_else(|| panic!("README has `{heading}`"));
    README[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_stack_table_lists_every_resource_of_the_template() {
    let listed = first_cells_after("The stack (`template.yaml`), resource by resource");
    let resources = template_keys("Resources");
    assert!(resources.len() > 40, "{resources:?}");
    let missing: Vec<_> = resources.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&resources).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README's stack table: missing {missing:?}, not in the template {extra:?}"
    );
}

#[test]
fn every_parameter_of_the_template_is_documented() {
    let missing: Vec<String> = template_keys("Parameters")
        .into_iter()
        .filter(|p| !README.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "parameters the README never names: {missing:?}"
    );
}

/// The variables table lists what `Config` reads.
#[test]
fn the_variables_table_lists_what_config_reads() {
    let listed: BTreeSet<String> = first_cells_after("| variable | default | meaning |")
        .into_iter()
        .filter(|v| v.starts_with("RECO_") || v.starts_with("AWS_S3_"))
        .collect();
    let read: BTreeSet<String> = reco_core::config::VARIABLES
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(listed, read);
}

/// The tools virtualenv's python (scripts/setup makes it, with PyYAML): `$VENV`, else
/// `$RECO_TOOLS_DIR/venv`, else `~/.cache/reco/tools/venv`, as the scripts find it.
fn tools_python() -> std::path::PathBuf {
    use std::path::PathBuf;
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("RECO_TOOLS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                        .join(".cache/reco/tools")
                })
                .join("venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no python at {}: scripts/cost needs the tools virtualenv (PyYAML); create it with \
         `ROOT=$PWD bash -c 'source scripts/setup'` or run scripts/test",
        python.display()
    );
    python
}

/// docs/cost.md is what scripts/cost makes of template.yaml and docs/cost-units.json
/// (and the README quotes its headline figures): a change to a billed resource, or to a
/// price or a measured input, must come with the regenerated document.
#[test]
fn the_cost_document_is_what_the_template_gives() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let python = tools_python();
    let out = std::process::Command::new(&python)
        .arg("scripts/cost")
        .arg("--check")
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("running {} scripts/cost --check: {e}", python.display()));
    assert!(
        out.status.success(),
        "scripts/cost --check failed (run scripts/cost and commit docs/cost.md):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// README's checklist of a new account's defaults holds for template.yaml: no function
/// reserves or provisions concurrency (a new account has 10 in all, and Lambda keeps 10
/// unreserved), and none asks for more than 3008 MB.
#[test]
fn the_template_fits_a_new_accounts_lambda_defaults() {
    let template = reco_testkit::iam::template();
    let globals = &template["Globals"]["Function"];
    for key in [
        "ReservedConcurrentExecutions",
        "ProvisionedConcurrencyConfig",
    ] {
        assert!(globals[key].is_null(), "Globals.Function sets {key}");
    }
    let default_memory = globals["MemorySize"].as_u64().unwrap_or(128);
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut functions = 0;
    for (name, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !matches!(kind, "AWS::Serverless::Function" | "AWS::Lambda::Function") {
            continue;
        }
        functions += 1;
        let properties = &resource["Properties"];
        for key in [
            "ReservedConcurrentExecutions",
            "ProvisionedConcurrencyConfig",
        ] {
            assert!(properties[key].is_null(), "{name:?} sets {key}");
        }
        let memory = properties["MemorySize"].as_u64().unwrap_or(default_memory);
        assert!(
            memory <= 3008,
            "{name:?}: {memory} MB, above a new account's 3008 MB"
        );
    }
    assert!(functions >= 5, "{functions} functions");
}
