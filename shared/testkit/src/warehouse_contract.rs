//! What every warehouse adapter must do with archived sessions.

use reco_core::{Impression, SessionDoc, Timestamp, View};

use crate::deadpool_contract::WarehouseProbe;
use crate::run_prefix;
use crate::support::{impression, views, T0};

/// An archived session of two views, `a` then `b`, the second opened from
/// recommendation `rid` when given.
pub fn session_with_click(session_id: &str, rid: Option<&str>) -> reco_core::SessionDoc {
    reco_core::SessionDoc {
        session_id: session_id.into(),
        customer_id: None,
        is_active: false,
        session_start: Timestamp(0),
        last_update: Timestamp(1),
        items_viewed: vec![
            View {
                item_id: "a".into(),
                viewed_at: Timestamp(0),
                recommendation_id: None,
            },
            View {
                item_id: "b".into(),
                viewed_at: Timestamp(1),
                recommendation_id: rid.map(str::to_string),
            },
        ],
        view_count: 2,
        impressions: Vec::new(),
        expires_at: None,
    }
}

/// Impressions and the views opened from them, archived with their sessions, give
/// click-through per model version and strategy: a click counts once per shown item,
/// and only on an item its list showed, in the same session.
pub async fn click_through_is_counted(warehouse: &dyn reco_core::Warehouse) {
    let prefix = run_prefix();
    let view = |item: &str, rid: Option<char>, at: i64| View {
        item_id: item.into(),
        viewed_at: Timestamp(at),
        recommendation_id: rid.map(|d| d.to_string().repeat(32)),
    };
    let doc = |sid: String, views: Vec<View>, impressions: Vec<Impression>| SessionDoc {
        session_id: sid,
        customer_id: None,
        is_active: false,
        session_start: Timestamp(T0),
        last_update: Timestamp(T0 + 100),
        view_count: views.len() as u32,
        items_viewed: views,
        impressions,
        expires_at: None,
    };
    let a = doc(
        format!("{prefix}-ct-a"),
        vec![
            view("x", Some('1'), T0 + 10),
            view("w", Some('2'), T0 + 11),
            view("q", Some('1'), T0 + 12),
            view("x", Some('1'), T0 + 13),
        ],
        vec![
            impression('1', "hybrid", &["x", "y", "z"], T0 + 1),
            impression('2', "popular", &["x", "w"], T0 + 2),
        ],
    );
    let b = doc(
        format!("{prefix}-ct-b"),
        vec![view("y", Some('1'), T0 + 10)],
        vec![impression('3', "session", &["x", "y"], T0 + 1)],
    );
    warehouse
        .archive_sessions(&[a.clone(), b])
        .await
        .expect("archived");
    warehouse
        .archive_sessions(&[a])
        .await
        .expect("archiving again is idempotent");
    let got: Vec<(String, u64, u64, u64, f64)> = warehouse
        .click_through()
        .await
        .expect("click-through")
        .into_iter()
        .filter(|r| r.model_version == "20261130T120000Z-0123abcd")
        .map(|r| {
            (
                r.strategy,
                r.recommendations,
                r.impressions,
                r.clicks,
                r.click_through,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("hybrid".into(), 1, 3, 1, 1.0 / 3.0),
            ("popular".into(), 1, 2, 1, 0.5),
            ("session".into(), 1, 2, 0, 0.0),
        ]
    );
}

/// A session id that comes back after its archived document expired does not
/// overwrite the archived session: the warehouse refuses the newcomer (the deadpool
/// then quarantines it) and keeps the archived rows; archiving the same session again
/// stays idempotent.
pub async fn warehouse_keeps_a_reused_session_id_apart(
    warehouse: &dyn reco_core::Warehouse,
    probe: &dyn WarehouseProbe,
) {
    let sid = format!("{}-reused", run_prefix());
    let first = SessionDoc {
        session_id: sid.clone(),
        customer_id: Some("c-1".into()),
        is_active: true,
        session_start: Timestamp(T0),
        last_update: Timestamp(T0 + 10),
        items_viewed: views("old", 2, T0),
        view_count: 2,
        impressions: Vec::new(),
        expires_at: None,
    };
    warehouse
        .archive_sessions(std::slice::from_ref(&first))
        .await
        .expect("archived");
    warehouse
        .archive_sessions(std::slice::from_ref(&first))
        .await
        .expect("archiving again is idempotent");
    let later = T0 + 40 * 86_400_000;
    let reused = SessionDoc {
        session_start: Timestamp(later),
        last_update: Timestamp(later + 10),
        items_viewed: views("new", 3, later),
        view_count: 3,
        impressions: Vec::new(),
        ..first
    };
    let e = warehouse
        .archive_sessions(&[reused])
        .await
        .expect_err("the reuse is refused");
    assert!(matches!(e, reco_core::WarehouseError::Rejected(_)), "{e:?}");
    assert_eq!(
        probe.views_of(&sid).await,
        vec!["old-item-0".to_string(), "old-item-1".to_string()],
        "the archived session's rows are untouched"
    );
}
