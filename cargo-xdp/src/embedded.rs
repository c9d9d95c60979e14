//! Files embedded from `templates/` and `toolchains/` by build.rs.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
