//! `reco migrate`.

use std::path::PathBuf;

use reco_core::Config;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, required_unless_present = "rds_data")]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub rds_data: bool,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args { data_dir, rds_data } = args;
    if rds_data {
        let (rds, aws) = super::aurora(config).await?;
        let applied = reco_rdsdata::migrate::apply(&rds).await?;
        println!(
            "applied {} migration(s) to {}: {:?}",
            applied.len(),
            rds.target().database,
            applied
        );
        for arn in &config.rds_role_secret_arns {
            let (role, password) = reco_secrets::database_credentials(&aws, arn).await?;
            reco_rdsdata::migrate::set_role_password(&rds, &role, &password)
                .await
                .map_err(|e| reco::Error::Role {
                    role: role.clone(),
                    source: e,
                })?;
            println!("role {role} logs in with the password of {arn}");
        }
    } else if let Some(data_dir) = data_dir {
        let dir = reco::open_dir(&data_dir)?;
        reco::open(config, &dir)?;
        println!(
            "warehouse at {} is up to date",
            dir.warehouse_db().display()
        );
    }
    Ok(())
}
