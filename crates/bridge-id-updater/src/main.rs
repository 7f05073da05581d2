use clap::Parser;

/// Capture an LMArena session id and message id into config/config.jsonc.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Directory holding config.jsonc, models.json and model_endpoint_map.json.
    #[arg(long, env = "BRIDGE_CONFIG_DIR", default_value = "config")]
    config_dir: std::path::PathBuf,
}

fn main() {
    let _args = Args::parse();
}
