fn main() {
    std::process::exit(docker_rebuilder::cli::main());
}
