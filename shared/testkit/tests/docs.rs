//! The README says what there is: its table of resources lists every resource of
//! template.yaml (and nothing else), every parameter of the template is named, and its
//! table of environment variables lists exactly what `Config` reads.

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
