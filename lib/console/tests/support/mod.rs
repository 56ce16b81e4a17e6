//! What the console's tests, its benchmark and the browser test share.

pub mod seed;
