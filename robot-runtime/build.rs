// `sqlx::migrate!` embeds the migration files at compile time; rebuild when
// they change (sqlx's recommended build script).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
