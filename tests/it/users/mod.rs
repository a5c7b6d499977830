//! The user routes (`src/routes/users.rs`).

mod profile;
