fn main() {
    let args: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let inputs = smokeprobe::config::Inputs::from_process(&[]);
    match smokeprobe::config::load(&args, &inputs) {
        Ok(p) => println!("{}", smokeprobe::config::describe::describe(&p)),
        Err(e) => println!("{e}"),
    }
}
