//! Files embedded by build.rs: project templates (`templates/`), targets
//! (`toolchains/`), the bundle's device scripts (`device-scripts/`) and the
//! kern compatibility headers (`kern-compat/`).

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
