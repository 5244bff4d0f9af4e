//! Hyperparameters: one validated struct, LightFM's defaults.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum Loss {
    /// Pointwise: positives (value > 0) against explicit negatives (value <= 0).
    Logistic,
    /// Bayesian personalised ranking: one sampled negative per positive.
    Bpr,
    /// Weighted approximate-rank pairwise: negatives sampled until one violates the margin.
    Warp,
    /// k-order-statistic WARP: the k-th best of `n` sampled positives is the anchor.
    WarpKos { k: usize, n: usize },
}

impl std::str::FromStr for Loss {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s {
            "logistic" => Ok(Loss::Logistic),
            "bpr" => Ok(Loss::Bpr),
            "warp" => Ok(Loss::Warp),
            "warp-kos" => Ok(Loss::WarpKos { k: 5, n: 10 }),
            other => Err(ModelError::Params(format!(
                "loss: `{other}` is not one of logistic, bpr, warp, warp-kos"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum Schedule {
    /// Per-parameter rate `learning_rate / sqrt(sum of squared gradients)`, the sum
    /// starting at 1.
    Adagrad { learning_rate: f32 },
    /// Rate from running averages of squared gradients and squared steps.
    Adadelta { rho: f32, epsilon: f32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub no_components: usize,
    pub loss: Loss,
    pub schedule: Schedule,
    /// L2 penalty on item feature parameters, applied to each parameter an update touches.
    pub item_alpha: f32,
    pub user_alpha: f32,
    /// WARP: most negatives drawn per positive.
    pub max_sampled: usize,
    pub seed: u64,
    pub threads: usize,
    /// Ranking losses: weight of a step on a known negative (an interaction with
    /// value <= 0: a low rating, an explicit dislike) that scores within the margin
    /// of one of the user's positives. 0 leaves known negatives out, as LightFM does.
    #[serde(default)]
    pub known_negative_weight: f32,
    /// WARP: negatives drawn with probability proportional to (interactions + 1)
    /// raised to this exponent; 0 draws uniformly, as LightFM does.
    #[serde(default)]
    pub sampling_exponent: f32,
    /// The learning rate of epoch `e` (counted over the model's life, from 0) is
    /// `learning_rate / (1 + learning_rate_decay * max(0, e - decay_start))`; 0
    /// keeps it constant.
    #[serde(default)]
    pub learning_rate_decay: f32,
    /// Epochs at the full learning rate before it starts to decay.
    #[serde(default)]
    pub decay_start: usize,
    /// Adagrad keeps one accumulator per embedding row (the mean of its components'
    /// squared gradients) instead of one per component: a d-th of the state, one
    /// square root per row step instead of d. Ignored by adadelta.
    #[serde(default)]
    pub row_adagrad: bool,
    /// The fitted parameters are the mean of their values at the end of each of a
    /// fit's last `average_epochs` epochs; 0 or 1 keeps the last epoch's.
    #[serde(default)]
    pub average_epochs: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            no_components: 10,
            loss: Loss::Logistic,
            schedule: Schedule::Adagrad {
                learning_rate: 0.05,
            },
            item_alpha: 0.0,
            user_alpha: 0.0,
            max_sampled: 10,
            seed: 42,
            threads: 1,
            known_negative_weight: 0.0,
            sampling_exponent: 0.0,
            learning_rate_decay: 0.0,
            decay_start: 0,
            row_adagrad: false,
            average_epochs: 0,
        }
    }
}

impl Params {
    pub fn with_loss(loss: Loss) -> Self {
        Params {
            loss,
            ..Params::default()
        }
    }

    /// LightFM's defaults for `loss` and `no_components` with the options that beat
    /// it, chosen by cross-validation on the training part of MovieLens 100k and on a
    /// generated million-interaction split (docs/benchmarks.md, "Choosing the
    /// defaults"): what `reco train` uses. `attribute_features`: the fit has features
    /// shared by several users or items (rows L1-normalised, as LightFM's `Dataset`
    /// makes them); their fits take a rate of their own
    /// (`recommended_hybrid_learning_rate`) and no learning-rate decay, which helps
    /// identity features only. `positives_per_item`: the training data's
    /// (`Interactions::positives_per_item`), which the tuned rates depend on.
    pub fn recommended(
        loss: Loss,
        no_components: usize,
        attribute_features: bool,
        positives_per_item: f32,
    ) -> Self {
        let tuned = matches!(loss, Loss::Warp | Loss::WarpKos { .. });
        let lightfm = Params::default();
        let decay = tuned && !attribute_features;
        Params {
            no_components,
            loss,
            schedule: match (tuned, attribute_features) {
                (false, _) => lightfm.schedule,
                (true, false) => Schedule::Adagrad {
                    learning_rate: Params::recommended_learning_rate(
                        no_components,
                        positives_per_item,
                    ),
                },
                (true, true) => Schedule::Adagrad {
                    learning_rate: Params::recommended_hybrid_learning_rate(
                        no_components,
                        positives_per_item,
                    ),
                },
            },
            learning_rate_decay: if decay { 0.1 } else { 0.0 },
            decay_start: if decay { 5 } else { 0 },
            row_adagrad: true,
            ..lightfm
        }
    }

    /// Adagrad's rate for WARP on identity features with `no_components`
    /// components on data with `positives_per_item` positives per item:
    /// `0.528 / cbrt(no_components * max(positives_per_item, 30))`. On MovieLens 100k
    /// (30 positives per item) that is 0.079 at 10 components and 0.0425 at 64; on a
    /// generated split with 216 per item, 0.041 and 0.022. Narrow embeddings learn
    /// best with a larger rate, and every row's rate is best smaller when items take
    /// more steps per epoch (cross-validated for 8 to 64 components and 10 to 30
    /// epochs on MovieLens 100k, and at 10 and 64 components on generated splits of
    /// 250 thousand and a million interactions; LightFM takes 0.05 whatever the
    /// width and the data). Below 30 per item the rate stays at 30's: smaller data
    /// was not measured.
    pub fn recommended_learning_rate(no_components: usize, positives_per_item: f32) -> f32 {
        0.528 / (no_components.max(1) as f32 * measured_density(positives_per_item)).cbrt()
    }

    /// Adagrad's rate for WARP with attribute features (rows L1-normalised):
    /// `6.9 / cbrt(no_components² * max(positives_per_item, 30))`, 0.48 at 10
    /// components, 0.22 at 32 and 0.14 at 64 on MovieLens 100k. Cross-validated there
    /// with its users' age band, gender and occupation and its films' genres as
    /// features, at 10/10, 32/20 and 64/30 (LightFM's 0.05 costs 25-41 % of P@10 at
    /// those widths): a row's own embedding carries only its share of the row's
    /// weight, so it learns best at a larger rate than identity features', the more
    /// so the narrower the embeddings. The density term is the identity rule's,
    /// carried over, not measured with attribute features.
    pub fn recommended_hybrid_learning_rate(no_components: usize, positives_per_item: f32) -> f32 {
        let d = no_components.max(1) as f32;
        6.9 / (d * d * measured_density(positives_per_item)).cbrt()
    }

    /// Refuses values the model cannot train with, naming the parameter.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Params(m));
        if self.no_components == 0 || self.no_components > 4096 {
            return bad(format!(
                "no_components: {} is outside 1..=4096",
                self.no_components
            ));
        }
        if self.max_sampled == 0 {
            return bad("max_sampled: must be at least 1".into());
        }
        if self.threads == 0 || self.threads > 1024 {
            return bad(format!("threads: {} is outside 1..=1024", self.threads));
        }
        for (name, v) in [
            ("item_alpha", self.item_alpha),
            ("user_alpha", self.user_alpha),
            ("known_negative_weight", self.known_negative_weight),
            ("sampling_exponent", self.sampling_exponent),
            ("learning_rate_decay", self.learning_rate_decay),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name}: {v} must be finite and >= 0"));
            }
        }
        match self.schedule {
            Schedule::Adagrad { learning_rate } => {
                if !learning_rate.is_finite() || learning_rate <= 0.0 {
                    return bad(format!("learning_rate: {learning_rate} must be > 0"));
                }
            }
            Schedule::Adadelta { rho, epsilon } => {
                if !(rho > 0.0 && rho < 1.0) {
                    return bad(format!("rho: {rho} must be in (0, 1)"));
                }
                if !epsilon.is_finite() || epsilon < 0.0 {
                    return bad(format!("epsilon: {epsilon} must be >= 0"));
                }
            }
        }
        if let Loss::WarpKos { k, n } = self.loss {
            if k == 0 || n == 0 {
                return bad("k and n (warp-kos): must be at least 1".into());
            }
        }
        Ok(())
    }
}

impl Params {
    /// Values per row of the embeddings' schedule state: 1 under row-wise adagrad,
    /// else one per component.
    pub fn acc_width(&self) -> usize {
        match self.schedule {
            Schedule::Adagrad { .. } if self.row_adagrad => 1,
            _ => self.no_components,
        }
    }
}

/// The positives per item the recommended rates take: at least 30 (sparser data was
/// not measured), and 30 when unknown.
fn measured_density(positives_per_item: f32) -> f32 {
    if positives_per_item.is_finite() {
        positives_per_item.max(30.0)
    } else {
        30.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lightfms_and_valid() {
        let p = Params::default();
        assert_eq!(p.no_components, 10);
        assert_eq!(
            p.schedule,
            Schedule::Adagrad {
                learning_rate: 0.05
            }
        );
        assert!(p.validate().is_ok());
    }

    #[test]
    fn recommended_options_are_valid_and_older_params_still_read() {
        let p = Params::recommended(Loss::Warp, 10, false, 30.0);
        assert!(p.validate().is_ok());
        assert!(p.learning_rate_decay > 0.0 && p.row_adagrad);
        let rate = |p: &Params| match p.schedule {
            Schedule::Adagrad { learning_rate } => learning_rate,
            Schedule::Adadelta { .. } => 0.0,
        };
        // Narrower embeddings get a larger rate, denser data a smaller one;
        // LightFM's where not cross-validated.
        let wide = Params::recommended(Loss::Warp, 64, false, 30.0);
        assert!((rate(&wide) - 0.0425).abs() < 2e-4 && (rate(&p) - 0.079).abs() < 5e-4);
        let dense = Params::recommended(Loss::Warp, 64, false, 216.0);
        assert!((rate(&dense) - 0.022).abs() < 5e-4);
        // Sparser than measured, or no data: the rate at 30 positives per item.
        assert_eq!(
            rate(&Params::recommended(Loss::Warp, 64, false, 2.0)),
            rate(&wide)
        );
        assert_eq!(
            rate(&Params::recommended(Loss::Warp, 64, false, f32::NAN)),
            rate(&wide)
        );
        assert_eq!(
            rate(&Params::recommended(Loss::Bpr, 10, false, 216.0)),
            0.05
        );
        // Attribute features: a larger rate, falling faster with the width; no decay.
        let hybrid = Params::recommended(Loss::Warp, 10, true, 30.0);
        assert!(hybrid.learning_rate_decay == 0.0 && hybrid.row_adagrad);
        assert!((rate(&hybrid) - 0.478).abs() < 2e-3, "{}", rate(&hybrid));
        let wide_hybrid = Params::recommended(Loss::Warp, 64, true, 30.0);
        assert!((rate(&wide_hybrid) - 0.139).abs() < 1e-3);
        assert!(rate(&Params::recommended(Loss::Warp, 64, true, 216.0)) < rate(&wide_hybrid));
        assert_eq!(rate(&Params::recommended(Loss::Bpr, 64, true, 30.0)), 0.05);
        assert_eq!(p.acc_width(), 1);
        assert_eq!(
            Params::default().acc_width(),
            Params::default().no_components
        );
        // Parameters written before the options existed read as LightFM's.
        let mut old = serde_json::to_value(Params::default()).expect("serialises");
        for field in [
            "known_negative_weight",
            "sampling_exponent",
            "learning_rate_decay",
            "decay_start",
            "row_adagrad",
            "average_epochs",
        ] {
            old.as_object_mut().expect("object").remove(field);
        }
        let read: Params = serde_json::from_value(old).expect("reads");
        assert_eq!(read, Params::default());
    }

    #[test]
    fn invalid_values_name_the_parameter() {
        let cases = [
            (
                Params {
                    no_components: 0,
                    ..Params::default()
                },
                "no_components",
            ),
            (
                Params {
                    item_alpha: -1.0,
                    ..Params::default()
                },
                "item_alpha",
            ),
            (
                Params {
                    schedule: Schedule::Adagrad {
                        learning_rate: f32::NAN,
                    },
                    ..Params::default()
                },
                "learning_rate",
            ),
            (
                Params {
                    schedule: Schedule::Adadelta {
                        rho: 1.0,
                        epsilon: 1e-6,
                    },
                    ..Params::default()
                },
                "rho",
            ),
            (
                Params {
                    threads: 0,
                    ..Params::default()
                },
                "threads",
            ),
            (
                Params {
                    max_sampled: 0,
                    ..Params::default()
                },
                "max_sampled",
            ),
            (
                Params {
                    learning_rate_decay: -0.1,
                    ..Params::default()
                },
                "learning_rate_decay",
            ),
            (
                Params {
                    known_negative_weight: f32::INFINITY,
                    ..Params::default()
                },
                "known_negative_weight",
            ),
        ];
        for (p, name) in cases {
            let e = p.validate().expect_err("refused").to_string();
            assert!(e.contains(name), "{e}");
        }
        assert!(matches!(
            "hinge".parse::<Loss>(),
            Err(crate::ModelError::Params(_))
        ));
    }
}
