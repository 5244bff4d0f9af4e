//! Holds template.yaml's IAM policies to what the code calls: each function's policy
//! allows exactly the actions of the adapters it wires (no more, no wildcards), each
//! on a named resource.

use std::collections::BTreeSet;

use serde_yaml::Value;

/// template.yaml at the workspace root.
pub fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml readable");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

fn tag_free(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match tag_free(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or list, got {other:?}"),
    }
}

/// The allowed actions of a resource's inline policy statements, with each
/// statement's resources: (action, resources rendered as YAML, has a condition).
pub fn statements(resource: &str) -> Vec<(String, String, bool)> {
    let template = template();
    let properties = &template["Resources"][resource]["Properties"];
    assert!(
        !properties.is_null(),
        "template.yaml has no resource {resource}"
    );
    let mut out = Vec::new();
    let Some(policies) = properties["Policies"].as_sequence() else {
        return out;
    };
    for policy in policies {
        let Some(statements) = policy["Statement"].as_sequence() else {
            continue; // SAM policy templates (LambdaInvokePolicy) name their own action
        };
        for st in statements {
            assert_eq!(st["Effect"].as_str(), Some("Allow"), "{resource}: {st:?}");
            let resources = serde_yaml::to_string(&st["Resource"]).expect("render");
            let conditioned = !st["Condition"].is_null();
            for action in strings(&st["Action"]) {
                out.push((action, resources.clone(), conditioned));
            }
        }
    }
    out
}

/// Asserts that `function`'s policy allows exactly `expected`, never `*`, each on a
/// resource of its own (not `*`), and `s3:ListBucket` only under a prefix condition.
pub fn assert_policy_allows_exactly(function: &str, expected: &[&str]) {
    let found = statements(function);
    let actions: BTreeSet<&str> = found.iter().map(|(a, _, _)| a.as_str()).collect();
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    let missing: Vec<_> = expected.difference(&actions).collect();
    let extra: Vec<_> = actions.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{function}: the code calls actions its policy does not allow: {missing:?}; \
         the policy allows actions the code never calls: {extra:?}"
    );
    for (action, resources, conditioned) in &found {
        assert!(
            !action.contains('*'),
            "{function}: wildcard action {action}"
        );
        assert!(
            !resources
                .trim()
                .trim_matches('\'')
                .trim_matches('"')
                .eq("*"),
            "{function}: {action} on every resource"
        );
        if action == "s3:ListBucket" {
            assert!(
                *conditioned,
                "{function}: s3:ListBucket must be limited to a prefix"
            );
        }
    }
}
