//! Property tests over the request validator: any body is parsed into views that obey
//! every limit, or refused with a 400 that names a field; it never panics.

use proptest::prelude::*;
use reco_api::validate::{self, MAX_BATCH};
use reco_core::{ids, Timestamp};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 \\-]{0,300}",
        "[\u{1F600}\u{202E}\u{200B}a]{0,70}",
    ]
}

fn view_json() -> impl Strategy<Value = serde_json::Value> {
    (
        id_text(),
        proptest::option::of(id_text()),
        proptest::option::of(prop_oneof![
            Just("2027-01-15T08:00:00Z".to_string()),
            any::<String>(),
        ]),
    )
        .prop_map(|(item, customer, at)| {
            let mut v = serde_json::json!({ "item_id": item });
            if let Some(c) = customer {
                v["customer_id"] = c.into();
            }
            if let Some(t) = at {
                v["viewed_at"] = t.into();
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in any::<Vec<u8>>()) {
        if let Err(e) = validate::track_views(&body, NOW) {
            prop_assert_eq!(e.status.as_u16(), 400);
        }
    }

    #[test]
    fn accepted_views_obey_every_limit(
        views in proptest::collection::vec(view_json(), 0..30),
        single in any::<bool>(),
    ) {
        let body = if single && !views.is_empty() {
            views[0].clone()
        } else {
            serde_json::json!({ "views": views })
        };
        match validate::track_views(body.to_string().as_bytes(), NOW) {
            Ok(t) => {
                prop_assert!(!t.views.is_empty() && t.views.len() <= MAX_BATCH);
                for v in &t.views {
                    prop_assert!(ids::item_id(&v.item_id).is_ok());
                }
                if let Some(c) = &t.customer_id {
                    prop_assert!(ids::customer_id(c).is_ok());
                }
            }
            Err(e) => {
                prop_assert_eq!(e.status.as_u16(), 400);
                prop_assert!(!e.message.is_empty());
                if let Some(field) = &e.field {
                    prop_assert!(e.message.starts_with(field.as_str()));
                }
            }
        }
    }

    #[test]
    fn session_ids_are_accepted_only_when_valid(id in any::<String>()) {
        let ok = validate::session_id(&id).is_ok();
        prop_assert_eq!(ok, ids::session_id(&id).is_ok());
        if ok {
            prop_assert!(id.len() <= 128 && id.is_ascii());
        }
    }
}
