//! `postrider-std`: postrider on blocking threads, for small hosts.

fn main() -> std::process::ExitCode {
    postrider_agents::cli::main_with(postrider_std::serve::serve)
}
