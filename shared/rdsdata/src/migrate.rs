//! Schema migrations over the Data API: the plain SQL files of migrations/postgres,
//! each applied once, in order, inside a transaction, statement by statement (the
//! Data API runs one statement per call), and recorded in `schema_migrations`.

use reco_core::WarehouseError;

use crate::{text, AuroraWarehouse};

/// Migrations in order: (name, SQL).
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_warehouse",
        include_str!("../../../migrations/postgres/0001_warehouse.sql"),
    ),
    (
        "0002_roles",
        include_str!("../../../migrations/postgres/0002_roles.sql"),
    ),
    (
        "0003_session_reuse",
        include_str!("../../../migrations/postgres/0003_session_reuse.sql"),
    ),
    (
        "0004_click_attribution",
        include_str!("../../../migrations/postgres/0004_click_attribution.sql"),
    ),
    (
        "0005_impressions",
        include_str!("../../../migrations/postgres/0005_impressions.sql"),
    ),
    (
        "0006_session_sequences",
        include_str!("../../../migrations/postgres/0006_session_sequences.sql"),
    ),
];

/// The functions' database roles (created by `0002_roles`).
pub const ROLES: &[&str] = &["reco_deadpool", "reco_train"];

/// Lets `role` (one of [`ROLES`]) log in with `password`: what `reco migrate` does with
/// each role's secret. The password travels as a literal (ALTER ROLE takes no
/// parameters): quotes are doubled, and control characters refused.
pub async fn set_role_password(
    rds: &AuroraWarehouse,
    role: &str,
    password: &str,
) -> Result<(), WarehouseError> {
    if !ROLES.contains(&role) {
        return Err(WarehouseError::Other(format!(
            "`{role}` is not one of the functions' roles {ROLES:?}"
        )));
    }
    if password.len() < 16 || password.chars().any(char::is_control) {
        return Err(WarehouseError::Other(format!(
            "the password for {role} must be 16 or more printable characters"
        )));
    }
    let sql = format!(
        "ALTER ROLE {role} WITH LOGIN PASSWORD '{}'",
        password.replace('\'', "''")
    );
    rds.execute(&sql, Vec::new(), None).await.map(|_| ())
}

/// Splits a SQL script into statements at top-level semicolons (not inside quotes,
/// comments or dollar-quoted bodies). Comment-only pieces are dropped.
pub fn split_statements(script: &str) -> Vec<String> {
    let chars: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    let mut meaningful = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                current.push(c);
                i += 1;
                while i < chars.len() {
                    current.push(chars[i]);
                    if chars[i] == c {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                meaningful = true;
                continue;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
                continue;
            }
            '$' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j < chars.len() && chars[j] == '$' {
                    let tag: String = chars[i..=j].iter().collect();
                    let rest: String = chars[j + 1..].iter().collect();
                    let body_len = rest.find(&tag).map_or(rest.len(), |e| e + tag.len());
                    current.push_str(&tag);
                    current.push_str(&rest[..body_len]);
                    i = j + 1 + rest[..body_len].chars().count();
                    meaningful = true;
                    continue;
                }
            }
            ';' => {
                if meaningful {
                    out.push(current.trim().to_string());
                }
                current.clear();
                meaningful = false;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            meaningful = true;
        }
        current.push(c);
        i += 1;
    }
    if meaningful {
        out.push(current.trim().to_string());
    }
    out
}

/// Applies the migrations not yet applied; returns their names.
pub async fn apply(rds: &AuroraWarehouse) -> Result<Vec<String>, WarehouseError> {
    rds.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        Vec::new(),
        None,
    )
    .await?;
    let mut applied = Vec::new();
    for (name, script) in MIGRATIONS {
        let done = rds
            .execute(
                "SELECT count(*) FROM schema_migrations WHERE name = :name",
                vec![text("name", name)],
                None,
            )
            .await?;
        let count = done
            .records
            .as_deref()
            .and_then(|r| r.first())
            .map(|r| crate::Record(r).long(0))
            .transpose()?
            .unwrap_or(0);
        if count > 0 {
            continue;
        }
        let statements = split_statements(script);
        rds.in_transaction(|tx| async move {
            for statement in &statements {
                rds.execute(statement, Vec::new(), Some(&tx))
                    .await
                    .map_err(|e| WarehouseError::Other(format!("migration {name}: {e}")))?;
            }
            rds.execute(
                "INSERT INTO schema_migrations (name) VALUES (:name)",
                vec![text("name", name)],
                Some(&tx),
            )
            .await?;
            Ok(())
        })
        .await?;
        applied.push(name.to_string());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let s = split_statements(
            "-- header; not a statement\nCREATE TABLE a (x text DEFAULT ';');\n/* ; */ SELECT $$ ; $$;\n\nSELECT 1",
        );
        assert_eq!(
            s,
            vec![
                "CREATE TABLE a (x text DEFAULT ';')",
                "SELECT $$ ; $$",
                "SELECT 1"
            ]
        );
    }

    #[test]
    fn the_warehouse_migration_splits_into_its_statements() {
        let s = split_statements(MIGRATIONS[0].1);
        assert!(s.len() > 10, "{}", s.len());
        assert!(s.iter().all(|st| !st.trim().is_empty()));
        assert!(s
            .iter()
            .any(|st| st.starts_with("CREATE MATERIALIZED VIEW")));
    }
}
