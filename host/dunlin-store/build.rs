//! `sqlx::migrate!` embeds the migration files at compile time; cargo does not know to
//! rebuild when a file is added to their folders, so tell it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
