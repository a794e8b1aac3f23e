//! Thin entry point: parse the command line, set up logging, run, exit.
use clap::Parser;
use smokeprobe::cli::{Cli, Command, LogFormat};
use smokeprobe::report::ExitCode;

fn main() {
    let cli = Cli::parse();
    // A long-running probe reports each flow; one-shot commands only warnings.
    let default = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SMOKEPROBE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads.into())
            .enable_all()
            .build()
    };
    let code = match runtime {
        Ok(rt) => rt.block_on(smokeprobe::cli::run(cli)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::Invalid
        }
    };
    std::process::exit(code.code());
}
