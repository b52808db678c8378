//! Projects: the fixtures `proj` (private) and `pub` (public), and those a test adds
//! (docs/harbor-api.md#projects, docs/harbor-api.md#fixtures). Who may see or do what in a project
//! is decided in `permissions`, not here.

use super::Model;
use crate::util;

pub(crate) struct Project {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) public: bool,
    pub(crate) owner_id: i64,
    pub(crate) creation_ms: i64,
}

impl Model {
    pub(crate) fn add_project(&mut self, name: &str, public: bool) -> i64 {
        if let Some(p) = self.project_by_name(name) {
            return p.id;
        }
        let id = self.next_project_id;
        self.next_project_id += 1;
        self.projects.push(Project {
            id,
            name: name.to_owned(),
            public,
            owner_id: 1,
            creation_ms: util::now_millis(),
        });
        id
    }

    pub(crate) fn project_by_name(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }

    pub(crate) fn project_by_id(&self, id: i64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }
}
