//! `postrider`: the main postrider server on the smol runtime.

fn main() -> std::process::ExitCode {
    postrider_agents::cli::main_with(postrider_smol::serve::serve)
}
