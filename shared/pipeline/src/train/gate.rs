//! The quality gate: whether a candidate may replace the current model. Pure, so
//! every case is a unit test.

use reco_serving::registry::Scores;

/// What the gate allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How far below the current model's P@10 a candidate may be and still pass.
    pub tolerance: f64,
    /// Pass any candidate with finite metrics.
    pub force: bool,
}

/// The gate's answer and why, in words for the run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub publish: bool,
    pub reason: String,
}

/// A candidate passes when its metrics are finite and, unless forced, its P@10 is not
/// below the current model's by more than the tolerance; with no usable current
/// model, any finite candidate passes.
pub fn verdict(candidate: &Scores, current: Option<&Scores>, policy: &Policy) -> Verdict {
    let (publish, reason) = if !candidate.finite() {
        (false, "candidate metrics are not finite".to_string())
    } else if policy.force {
        (true, "forced".to_string())
    } else {
        match current {
            None => (true, "no usable current model".to_string()),
            Some(c) if candidate.precision_at_10 + policy.tolerance >= c.precision_at_10 => (
                true,
                format!(
                    "P@10 {:.4} within {} of the current {:.4}",
                    candidate.precision_at_10, policy.tolerance, c.precision_at_10
                ),
            ),
            Some(c) => (
                false,
                format!(
                    "P@10 {:.4} is below the current {:.4} by more than {}",
                    candidate.precision_at_10, c.precision_at_10, policy.tolerance
                ),
            ),
        }
    };
    Verdict { publish, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p10: f64) -> Scores {
        Scores {
            precision_at_10: p10,
            recall_at_10: 0.1,
            auc: 0.9,
            ndcg_at_10: 0.2,
            users: 100,
        }
    }

    const POLICY: Policy = Policy {
        tolerance: 0.01,
        force: false,
    };

    #[test]
    fn a_first_model_passes() {
        let v = verdict(&at(0.05), None, &POLICY);
        assert!(v.publish);
        assert_eq!(v.reason, "no usable current model");
    }

    #[test]
    fn a_candidate_within_the_tolerance_passes_and_one_beyond_fails() {
        assert!(verdict(&at(0.20), Some(&at(0.20)), &POLICY).publish);
        assert!(verdict(&at(0.195), Some(&at(0.20)), &POLICY).publish);
        let v = verdict(&at(0.185), Some(&at(0.20)), &POLICY);
        assert!(!v.publish);
        assert_eq!(
            v.reason,
            "P@10 0.1850 is below the current 0.2000 by more than 0.01"
        );
        assert!(verdict(&at(0.30), Some(&at(0.20)), &POLICY).publish);
    }

    #[test]
    fn force_passes_a_worse_candidate_but_never_a_non_finite_one() {
        let forced = Policy {
            force: true,
            ..POLICY
        };
        let v = verdict(&at(0.01), Some(&at(0.20)), &forced);
        assert!(v.publish);
        assert_eq!(v.reason, "forced");
        let v = verdict(&at(f64::NAN), None, &forced);
        assert!(!v.publish);
        assert_eq!(v.reason, "candidate metrics are not finite");
    }
}
