//! `reco token`.

use std::path::PathBuf;

use reco_core::{Clock, Config, SystemClock, TokenClaims};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, required_unless_present = "admin")]
    pub session: Option<String>,
    #[arg(long, conflicts_with = "admin")]
    pub customer: Option<String>,
    /// An operator's token for the /v1/admin routes and the /admin page.
    #[arg(long, conflicts_with = "session")]
    pub admin: bool,
    /// Lifetime in seconds (at most RECO_TOKEN_MAX_TTL_SECS).
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args {
        data_dir,
        session,
        customer,
        admin,
        ttl,
    } = args;
    if ttl <= 0 || ttl > config.token_max_ttl_secs as i64 {
        return Err(reco::Error::Usage(format!(
            "--ttl must be 1..={} seconds (RECO_TOKEN_MAX_TTL_SECS)",
            config.token_max_ttl_secs
        )));
    }
    // An admin token names no visitor session; "admin" fills the field.
    let session = session.unwrap_or_else(|| "admin".to_string());
    reco_api::validate::session_id(&session)?;
    if let Some(c) = &customer {
        reco_core::ids::customer_id(c)
            .map_err(|e| reco::Error::Usage(format!("--customer {e}")))?;
    }
    let dir = reco::open_dir(&data_dir)?;
    // Admin tokens have a key of their own (DATA_DIR/admin-secret).
    let key = if admin {
        dir.admin_key()?
    } else {
        dir.token_key(config)?
    };
    let now = SystemClock.now().seconds();
    let claims = TokenClaims {
        sid: session,
        cid: customer,
        iat: now,
        exp: now + ttl,
        adm: admin,
    };
    println!("{}", key.sign(&claims));
    Ok(())
}
