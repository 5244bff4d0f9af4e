//! The session store on DynamoDB. One item per session; every append is a single
//! conditional `UpdateItem`, so concurrent views of one session are never lost.
//!
//! Item attributes: `session_id` (S, key), `customer_id` (S, optional), `is_active`
//! (BOOL), `session_start`, `last_update` (N, epoch ms), `items_viewed` (L of M
//! `{item_id: S, viewed_at: N, recommendation_id?: S}`, arrival order), `view_count` (N), `active_shard`
//! (N, present only while active: the sparse index's partition key),
//! `byte_count` (N, what the views take, against the session's byte budget),
//! `impressions` (L of M `{recommendation_id: S, model_version: S, strategy: S,
//! item_ids: L of S, shown_at: N}`, arrival order) and `impression_bytes` (N, against
//! their own budget),
//! `expires_at` (N, epoch seconds, the TTL attribute, set on archiving) and
//! `quarantine_reason` (S, set when the warehouse refused the session: the deadpool
//! leaves it for an operator) and `idle_check` (N, epoch ms: the sparse index's sort
//! key, the earliest time the session can be idle).
//!
//! `idle_check` is set by a session's first view and not by the others: an index key
//! that changed at every view would cost DynamoDB two index writes per view (delete
//! and put the entry). It never passes `last_update`, so querying it below a cutoff
//! finds every idle session; the deadpool re-reads each, and moves the entry of a
//! session still in use to its `last_update` ([`SessionStore::defer`]), once per
//! timeout at most.
//!
//! The table also holds the deadpool's lease, as the item `#lease#deadpool` (session
//! ids cannot hold `#`) with `lease_owner` (S) and `lease_until` (N, epoch ms).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
pub mod billing;
mod codec;
mod table;

pub use codec::decode;
use codec::{encode_impression, number};
use reco_core::ports::{AppendRequest, SessionState};
use reco_core::{AppendOutcome, JobLease, SessionDoc, SessionStore, StoreError, Timestamp};
pub use table::create_sessions_table;

/// The IAM actions this adapter calls, by use: what a function's policy must allow on
/// the table (a test holds template.yaml to it).
pub mod iam {
    /// `append`, `get`, `archive`, `quarantine`: on the table.
    pub const SESSIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem"];
    /// `get` only: on the table.
    pub const SESSIONS_READ: &[&str] = &["dynamodb:GetItem"];
    /// `inactive`: on the active-session index.
    pub const INACTIVE_INDEX: &[&str] = &["dynamodb:Query"];
}

/// Name of the sparse index over active sessions (also in template.yaml).
pub const ACTIVE_INDEX: &str = "active-by-idle-check";
/// The index's sort key (also in template.yaml).
pub const IDLE_CHECK: &str = "idle_check";
/// Key of the lease item of `name`: `#lease#` and the name (session ids hold no `#`).
fn lease_key(name: &str) -> AttributeValue {
    AttributeValue::S(format!("#lease#{name}"))
}
/// The TTL attribute (also in template.yaml).
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoSessionStore {
    client: Client,
    table: String,
}

impl DynamoSessionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSessionStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn read(&self, session_id: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("session_id", AttributeValue::S(session_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    /// The session as the append rules read it.
    fn state(item: &Item) -> Result<SessionState, StoreError> {
        let doc = decode(item)?;
        let counter = |name: &str| -> Result<u32, StoreError> {
            Ok(match item.get(name) {
                Some(_) => u32::try_from(number(item, name)?).unwrap_or(u32::MAX),
                // Sessions written before byte counting count as empty.
                None => 0,
            })
        };
        Ok(SessionState {
            is_active: doc.is_active,
            customer_id: doc.customer_id,
            view_count: doc.view_count,
            byte_count: counter("byte_count")?,
            impression_bytes: counter("impression_bytes")?,
        })
    }

    /// Why an append the store refused was refused, by the core's rules, from the
    /// session as it stood (`None`: no such session).
    fn refusal(
        item: Option<&Item>,
        request: &AppendRequest<'_>,
    ) -> Result<AppendOutcome, StoreError> {
        let state = item.map(Self::state).transpose()?;
        request.refusal(state.as_ref()).ok_or_else(|| {
            StoreError::Other("the conditional append was refused but the session admits it".into())
        })
    }
}

#[async_trait]
impl SessionStore for DynamoSessionStore {
    async fn append(&self, request: AppendRequest<'_>) -> Result<AppendOutcome, StoreError> {
        let n = request.views.len() as u32;
        // An append too large for an empty session is refused whatever the session
        // holds; the stored session only says which refusal comes first.
        if request.refusal(None).is_some() {
            let item = self.read(request.session_id).await?;
            return Self::refusal(item.as_ref(), &request);
        }
        let views: Vec<AttributeValue> = request
            .views
            .iter()
            .map(|v| {
                let mut view = HashMap::from([
                    ("item_id".to_string(), AttributeValue::S(v.item_id.clone())),
                    (
                        "viewed_at".to_string(),
                        AttributeValue::N(v.viewed_at.millis().to_string()),
                    ),
                ]);
                if let Some(r) = &v.recommendation_id {
                    view.insert(
                        "recommendation_id".to_string(),
                        AttributeValue::S(r.clone()),
                    );
                }
                AttributeValue::M(view)
            })
            .collect();
        let start = request.session_start();
        let mut update = String::from(
            "SET items_viewed = list_append(if_not_exists(items_viewed, :empty), :views), \
             view_count = if_not_exists(view_count, :zero) + :n, \
             byte_count = if_not_exists(byte_count, :zero) + :bytes, \
             last_update = :now, session_start = if_not_exists(session_start, :start), \
             is_active = :true, active_shard = if_not_exists(active_shard, :shard), \
             idle_check = if_not_exists(idle_check, :now)",
        );
        // A new session, or an active one with room for every view of this request, in
        // count and in bytes (sessions written before byte counting count as empty).
        let mut condition = String::from(
            "attribute_not_exists(session_id) OR (is_active = :true AND view_count <= :room \
             AND (attribute_not_exists(byte_count) OR byte_count <= :byte_room))",
        );
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "session_id",
                AttributeValue::S(request.session_id.to_string()),
            )
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":views", AttributeValue::L(views))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(request.now.millis().to_string()),
            )
            .expression_attribute_values(":start", AttributeValue::N(start.millis().to_string()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(
                ":shard",
                AttributeValue::N(request.active_shard.to_string()),
            )
            .expression_attribute_values(
                ":room",
                AttributeValue::N((request.max_views - n).to_string()),
            )
            .expression_attribute_values(
                ":bytes",
                AttributeValue::N(request.added_bytes.to_string()),
            )
            .expression_attribute_values(
                ":byte_room",
                AttributeValue::N((request.max_bytes - request.added_bytes).to_string()),
            );
        if !request.impressions.is_empty() {
            update.push_str(
                ", impressions = list_append(if_not_exists(impressions, :empty), :impressions), \
                 impression_bytes = if_not_exists(impression_bytes, :zero) + :impression_bytes",
            );
            condition = format!(
                "({condition}) AND (attribute_not_exists(impression_bytes) \
                 OR impression_bytes <= :impression_room)"
            );
            call = call
                .expression_attribute_values(
                    ":impressions",
                    AttributeValue::L(request.impressions.iter().map(encode_impression).collect()),
                )
                .expression_attribute_values(
                    ":impression_bytes",
                    AttributeValue::N(request.added_impression_bytes.to_string()),
                )
                .expression_attribute_values(
                    ":impression_room",
                    AttributeValue::N(
                        (request.max_impression_bytes - request.added_impression_bytes).to_string(),
                    ),
                );
        }
        match request.customer_id {
            Some(cid) => {
                update.push_str(", customer_id = :cid");
                condition = format!(
                    "({condition}) AND (attribute_not_exists(customer_id) OR customer_id = :cid)"
                );
                call = call.expression_attribute_values(":cid", AttributeValue::S(cid.to_string()));
            }
            // A token without a customer may not write to a customer's session.
            None => condition = format!("({condition}) AND attribute_not_exists(customer_id)"),
        }
        // Nothing is returned on success: the response needs only what the request
        // already knows, and a session document can be hundreds of kilobytes.
        // A new view puts a quarantined session back in line, its reason cleared.
        let result = call
            .update_expression(format!("{update} REMOVE quarantine_reason"))
            .condition_expression(condition)
            .return_values(ReturnValue::None)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(AppendOutcome::Appended),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                let old = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                };
                // Older endpoints may not return the item: read it.
                let item = match old {
                    Some(item) => Some(item),
                    None => self.read(request.session_id).await?,
                };
                Self::refusal(item.as_ref(), &request)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionDoc>, StoreError> {
        match self.read(session_id).await? {
            None => Ok(None),
            Some(item) => {
                let mut doc = decode(&item)?;
                doc.sort_views();
                Ok(Some(doc))
            }
        }
    }

    async fn archive(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.update_if_unchanged(
            session_id,
            seen_last_update,
            "SET is_active = :false, expires_at = :ttl REMOVE active_shard",
            &[
                (":false", AttributeValue::Bool(false)),
                (":ttl", AttributeValue::N(expires_at.to_string())),
            ],
        )
        .await
    }

    async fn quarantine(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        // Bounded: the reason is for an operator to read, not a place to store data.
        let reason: String = reason.chars().take(1000).collect();
        self.update_if_unchanged(
            session_id,
            seen_last_update,
            "SET quarantine_reason = :reason REMOVE active_shard",
            &[(":reason", AttributeValue::S(reason))],
        )
        .await
    }

    async fn inactive(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.query_inactive(shard, cutoff, limit).await
    }

    async fn defer(&self, session_id: &str, check_at: Timestamp) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("session_id", AttributeValue::S(session_id.to_string()))
            .update_expression("SET idle_check = :at")
            // Only forward, never past the session's last view, and only while it is
            // in the index.
            .condition_expression(
                "is_active = :true AND attribute_exists(active_shard) \
                 AND idle_check < :at AND last_update >= :at",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":at", AttributeValue::N(check_at.millis().to_string()))
            .send()
            .await;
        applied(result)
    }
}

#[async_trait]
impl JobLease for DynamoSessionStore {
    async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("session_id", lease_key(name))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_not_exists(session_id) OR lease_owner = :owner OR lease_until < :now",
            )
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":until", AttributeValue::N(until.millis().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.millis().to_string()))
            .send()
            .await;
        applied(result)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("session_id", lease_key(name))
            .update_expression("SET lease_until = :zero")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        // Not applied: someone else holds it now, nothing of ours to give up.
        applied(result).map(|_| ())
    }
}

impl DynamoSessionStore {
    /// Applies `update` to an active session whose `last_update` is still `seen`;
    /// false when the session changed or is archived.
    async fn update_if_unchanged(
        &self,
        session_id: &str,
        seen: Timestamp,
        update: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("session_id", AttributeValue::S(session_id.to_string()))
            .update_expression(update)
            .condition_expression("is_active = :true AND last_update = :seen")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":seen", AttributeValue::N(seen.millis().to_string()));
        for (name, value) in values {
            call = call.expression_attribute_values(*name, value.clone());
        }
        applied(call.send().await)
    }

    async fn query_inactive(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACTIVE_INDEX)
                .key_condition_expression("active_shard = :shard AND idle_check < :cutoff")
                .expression_attribute_values(":shard", AttributeValue::N(shard.to_string()))
                .expression_attribute_values(
                    ":cutoff",
                    AttributeValue::N(cutoff.millis().to_string()),
                )
                .limit((limit - found.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                let id = match item.get("session_id") {
                    Some(AttributeValue::S(s)) => s.clone(),
                    _ => return Err(StoreError::Corrupt("index entry without session_id".into())),
                };
                found.push((id, Timestamp(number(item, IDLE_CHECK)?)));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(found)
    }
}

/// Whether a conditional update was applied: `false` when its condition failed.
fn applied<R>(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<UpdateItemError, R>,
    >,
) -> Result<bool, StoreError>
where
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(e)),
    }
}

pub(crate) fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(&e).to_string();
    let transient = matches!(
        e,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    ) || text.contains("Throttling")
        || text.contains("ProvisionedThroughputExceeded")
        || text.contains("InternalServerError")
        || text.contains("ServiceUnavailable");
    if transient {
        StoreError::Unavailable(text)
    } else {
        StoreError::Other(text)
    }
}
