//! One driver per subcommand. Drivers never call each other; shared code lives in a lower module.

pub mod configure;
pub mod doctor;
pub mod post_build;
pub mod pre_build;
