fn main() {
    eprintln!("mote: not implemented yet");
    std::process::exit(2);
}
