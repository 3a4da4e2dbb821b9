fn main() {
    println!("latent-studio");
}
