//! `rdsdata-emulator --listen ADDR --postgres URL`: the RDS Data API on PostgreSQL.
//! Point the AWS SDK at it with `AWS_ENDPOINT_URL_RDS_DATA=http://ADDR`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(listen), Some(postgres)) = (get("--listen"), get("--postgres")) else {
        eprintln!("usage: rdsdata-emulator --listen 127.0.0.1:PORT --postgres postgres://USER@HOST:PORT/DB [--resuming-calls N]");
        return ExitCode::from(2);
    };
    let emulator = match rdsdata_emulator::Emulator::new(&postgres) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(n) = get("--resuming-calls") {
        match n.parse() {
            Ok(n) => emulator.answer_resuming(n),
            Err(_) => {
                eprintln!("error: --resuming-calls {n}: not a count");
                return ExitCode::from(2);
            }
        }
    }
    // A test tool with no authentication: never beyond this machine.
    let listen = match rdsdata_emulator::loopback_only(&listen) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "rdsdata-emulator listening on {listen}, PostgreSQL at {}",
        rdsdata_emulator::redact_password(&postgres)
    );
    match rdsdata_emulator::serve(listener, emulator).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
