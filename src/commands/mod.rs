//! One driver per subcommand. Drivers never call each other; shared code lives in a lower module.

pub mod doctor;
