pub mod buckets;
pub mod window;
