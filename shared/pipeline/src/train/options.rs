//! What a training run is asked to do.

use reco_model::session::SessionParams;
use reco_model::{Loss, ModelError, Params};
use serde::{Deserialize, Serialize};

use crate::dataset::Features;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    pub loss: String,
    pub components: usize,
    pub epochs: usize,
    /// Adagrad's rate; none: the recommended one for the loss, the number of
    /// components and the features (`Params::recommended`).
    pub learning_rate: Option<f32>,
    pub item_alpha: f32,
    pub user_alpha: f32,
    pub threads: usize,
    pub seed: u64,
    pub features: Features,
    /// Fraction of each user's most recent positives held out for evaluation.
    pub holdout: f64,
    /// Read the materialized training set instead of the view.
    pub materialized: bool,
    /// With `materialized`, refresh it first (the state machine refreshes it in a
    /// state of its own and sets this false).
    pub refresh: bool,
    /// After evaluating, refit on all data (holdout included) before writing.
    pub refit_all: bool,
    /// Publish even if the candidate's P@10 is below the current model's by more
    /// than `tolerance`.
    pub force: bool,
    pub tolerance: f64,
    /// Publish when the gate passes (the state machine sets false and publishes in
    /// a step of its own).
    pub publish: bool,
    /// How the session model scores (`reco_model::session`) ...
    pub session: SessionParams,
    /// ... with its view decay and transition weight chosen on the newest sessions
    /// (`reco_model::session::tune`) unless this is false.
    pub session_choose: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            loss: "warp".into(),
            components: 32,
            epochs: 20,
            learning_rate: None,
            item_alpha: 0.0,
            user_alpha: 0.0,
            threads: 2,
            seed: 42,
            features: Features::Identity,
            holdout: 0.2,
            materialized: false,
            refresh: true,
            refit_all: false,
            force: false,
            tolerance: 0.01,
            publish: true,
            session: SessionParams::default(),
            session_choose: true,
        }
    }
}

impl TrainOptions {
    /// Refuses options no run could train with, before any data is read.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.session.validate()?;
        self.params(0.0).map(|_| ())
    }

    /// The model's parameters for training data with `positives_per_item` positives
    /// per item (`Interactions::positives_per_item`; the recommended rate depends on
    /// it), taking `features: hybrid` to mean attribute features.
    pub fn params(&self, positives_per_item: f32) -> Result<Params, ModelError> {
        self.params_for(positives_per_item, self.features == Features::Hybrid)
    }

    /// As `params`, for data that has attribute features or not
    /// (`Dataset::has_attribute_features`): `features: hybrid` on a warehouse without
    /// any trains as identity features do, and takes their rate.
    pub fn params_for(
        &self,
        positives_per_item: f32,
        attribute_features: bool,
    ) -> Result<Params, ModelError> {
        let loss = self.loss.parse::<Loss>()?;
        let recommended = Params::recommended(
            loss,
            self.components,
            attribute_features,
            positives_per_item,
        );
        let params = Params {
            schedule: match self.learning_rate {
                Some(learning_rate) => reco_model::Schedule::Adagrad { learning_rate },
                None => recommended.schedule,
            },
            item_alpha: self.item_alpha,
            user_alpha: self.user_alpha,
            threads: self.threads,
            seed: self.seed,
            ..recommended
        };
        params.validate()?;
        if self.epochs == 0 || self.epochs > 10_000 {
            return Err(ModelError::Params(format!(
                "epochs: {} is outside 1..=10000",
                self.epochs
            )));
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(ModelError::Params(format!(
                "holdout: {} is outside [0, 1)",
                self.holdout
            )));
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_model::Schedule;

    fn rate(options: &TrainOptions) -> f32 {
        rate_for(options, 30.0)
    }

    fn rate_for(options: &TrainOptions, positives_per_item: f32) -> f32 {
        match options
            .params(positives_per_item)
            .expect("valid options")
            .schedule
        {
            Schedule::Adagrad { learning_rate } => learning_rate,
            Schedule::Adadelta { .. } => f32::NAN,
        }
    }

    #[test]
    fn bad_session_options_are_refused_naming_the_field() {
        let options: TrainOptions =
            serde_json::from_str(r#"{"session": {"neighbours": 0}}"#).expect("parses");
        let e = options.validate().expect_err("refused").to_string();
        assert!(e.contains("session neighbours"), "{e}");
        let options: TrainOptions =
            serde_json::from_str(r#"{"session": {"shared_weight": 2.0}}"#).expect("parses");
        let e = options.validate().expect_err("refused").to_string();
        assert!(e.contains("session shared_weight"), "{e}");
        // Unset fields keep their defaults.
        let options: TrainOptions =
            serde_json::from_str(r#"{"session": {"sample": 50}}"#).expect("parses");
        assert_eq!(options.session.sample, 50);
        assert_eq!(
            options.session.neighbours,
            SessionParams::default().neighbours
        );
        assert!(options.session_choose);
    }

    #[test]
    fn the_rate_is_the_recommended_one_unless_given() {
        let default = TrainOptions::default();
        assert_eq!(rate(&default), Params::recommended_learning_rate(32, 30.0));
        // Denser data, a smaller rate.
        assert_eq!(
            rate_for(&default, 200.0),
            Params::recommended_learning_rate(32, 200.0)
        );
        assert!(rate_for(&default, 200.0) < rate(&default));
        let narrow = TrainOptions {
            components: 8,
            ..TrainOptions::default()
        };
        assert_eq!(rate(&narrow), Params::recommended_learning_rate(8, 30.0));
        assert!(rate(&narrow) > rate(&default));
        let given = TrainOptions {
            learning_rate: Some(0.01),
            ..TrainOptions::default()
        };
        assert_eq!(rate(&given), 0.01);
        assert_eq!(rate_for(&given, 200.0), 0.01);
        let hybrid = TrainOptions {
            features: Features::Hybrid,
            ..TrainOptions::default()
        };
        assert_eq!(
            rate(&hybrid),
            Params::recommended_hybrid_learning_rate(32, 30.0)
        );
        assert!(rate(&hybrid) > rate(&default));
        let params = |attributes| hybrid.params_for(30.0, attributes).expect("valid");
        assert_eq!(params(false), default.params(30.0).expect("valid"));
        assert_eq!(params(true).learning_rate_decay, 0.0);
        let bpr = TrainOptions {
            loss: "bpr".into(),
            ..hybrid.clone()
        };
        assert_eq!(rate(&bpr), 0.05);
        // Older option documents with an explicit rate still read, and a bad one is
        // refused naming the field.
        let read: TrainOptions = serde_json::from_str(r#"{"learning_rate": 0.05}"#).expect("reads");
        assert_eq!(read.learning_rate, Some(0.05));
        let bad = TrainOptions {
            learning_rate: Some(-1.0),
            ..TrainOptions::default()
        };
        let err = bad.validate().expect_err("refused").to_string();
        assert!(err.contains("learning_rate"), "{err}");
    }
}
