//! What ships under deploy/ holds together, so none of it can rot: the example config parses as
//! the broker parses its own (its commented-out optional keys too), the Kubernetes ConfigMap
//! carries it word for word, the paths it names are where the Deployment mounts them, and the
//! systemd unit's credentials are where docs/broker.md points the config. It reads only those
//! files (the Kubernetes schemas are scripts/check-deploy's) and never holds a secret.

use std::fs;
use std::path::Path;

use harbor_broker::config::{self, Config};
use harbor_broker::policy::Selector;
use harbor_client::broker::Access;

const TOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(file: &str) -> String {
    let path = Path::new(TOP).join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example() -> String {
    read("deploy/harbor-broker.toml")
}

fn parsed(source: &str) -> Config {
    config::parse(source).unwrap_or_else(|e| panic!("deploy/harbor-broker.toml: {e}"))
}

/// The text of the block scalar `  key: |` (a key of a top-level mapping, its lines indented
/// by four spaces), as YAML reads it: the indentation taken off, one final line break kept.
/// Only the plain `|` form, which is what configmap.yaml uses; anything else is `None`.
fn block_scalar(yaml: &str, key: &str) -> Option<String> {
    let mut lines = yaml.lines();
    lines.by_ref().find(|l| *l == format!("  {key}: |"))?;
    let mut body: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.get(4..).unwrap_or(""))
        .collect();
    while body.last() == Some(&"") {
        body.pop();
    }
    (!body.is_empty()).then(|| body.join("\n") + "\n")
}

#[test]
fn the_example_config_parses_with_every_kind_of_rule() {
    let config = parsed(&example());
    assert_eq!(config.listen.port(), 8443);
    assert!(config.tls.is_some(), "the example serves TLS itself");
    let rules = &config.rules;
    assert!(
        rules
            .iter()
            .any(|r| matches!(r.selector, Selector::Project(_)) && r.access == Access::Push)
    );
    assert!(
        rules
            .iter()
            .any(|r| matches!(r.selector, Selector::Namespace(_))
                && r.project_path.is_some()
                && r.access == Access::Pull)
    );
    assert!(rules.iter().any(|r| r.push_on_unprotected_refs));
    assert!(
        rules
            .iter()
            .any(|r| matches!(r.selector, Selector::Project(_)) && r.access == Access::Pull)
    );
}

#[test]
fn the_example_s_commented_out_keys_parse_when_written_in() {
    let source = example();
    let optional = ["# jwks_url = ", "# ca_file = "];
    let mut written_in = 0;
    let uncommented: String = source
        .lines()
        .map(|l| match optional.iter().find(|o| l.starts_with(*o)) {
            Some(_) => {
                written_in += 1;
                format!("{}\n", &l[2..])
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_eq!(written_in, 3, "jwks_url and both ca_file keys");
    let config = parsed(&uncommented);
    let gitlab = config.gitlab.expect("the example sets [gitlab]");
    assert!(gitlab.ca_file.is_some() && config.harbor.ca_file.is_some());
    // The example's jwks_url is the default it stands for.
    let default = parsed(&source).gitlab.expect("the example sets [gitlab]");
    assert_eq!(gitlab.jwks_url, default.jwks_url);
}

#[test]
fn the_example_s_kubernetes_option_parses_when_turned_on() {
    // As its comment says: one "# " off each line of the block after its heading.
    let source = example();
    let start = source
        .find("# [kubernetes]\n")
        .expect("the example carries the [kubernetes] option");
    let block: String = source[start..]
        .lines()
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))
            )
        })
        .collect();
    let config = parsed(&format!("{}{block}", &source[..start]));
    let kubernetes = config.kubernetes.expect("[kubernetes] is on");
    assert_eq!(
        kubernetes.issuer,
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(kubernetes.audience, "harbor-broker");
    // Its optional keys stay commented: discovery and the system store.
    assert!(kubernetes.jwks_url.is_none() && kubernetes.ca_file.is_none());
    let rules: Vec<_> = config
        .kubernetes_rules
        .iter()
        .map(|r| {
            (
                r.namespace.as_str(),
                r.service_account.as_deref(),
                r.harbor_project.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("ci", Some("builder"), "ci-images"),
            ("web", None, "platform")
        ]
    );
}

#[test]
fn the_config_map_carries_the_example_word_for_word() {
    let shipped = block_scalar(
        &read("deploy/kubernetes/configmap.yaml"),
        "harbor-broker.toml",
    )
    .expect("configmap.yaml has a `  harbor-broker.toml: |` block");
    assert!(
        shipped == example(),
        "deploy/kubernetes/configmap.yaml's harbor-broker.toml differs from \
         deploy/harbor-broker.toml; copy the file into the block, indented by four spaces"
    );
}

#[test]
fn the_block_scalar_reader_keeps_inner_blank_lines_and_stops_at_the_next_key() {
    let yaml = "data:\n  a.toml: |\n    x = 1\n\n    y = 2\n\n  b: c\n";
    assert_eq!(block_scalar(yaml, "a.toml").unwrap(), "x = 1\n\ny = 2\n");
    assert_eq!(block_scalar(yaml, "b"), None);
}

#[test]
fn the_deployment_mounts_what_the_config_names() {
    let config = parsed(&example());
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let tls = config.tls.expect("[tls]");
    for file in [
        config.harbor.password_file.as_path(),
        &tls.cert_file,
        &tls.key_file,
        Path::new("/etc/harbor-broker/harbor-broker.toml"),
    ] {
        let dir = file.parent().unwrap().display().to_string();
        assert!(
            deployment.contains(&format!("mountPath: {dir}\n")),
            "deployment.yaml mounts nothing at {dir}, where the config reads {}",
            file.display()
        );
    }
    assert!(deployment.contains("\"--config\", \"/etc/harbor-broker/harbor-broker.toml\""));
    let password = config.harbor.password_file.file_name().unwrap();
    assert!(deployment.contains(&format!("path: {}\n", password.to_string_lossy())));
}

#[test]
fn the_systemd_unit_s_credentials_are_where_the_runbook_points_the_config() {
    let unit = read("deploy/systemd/harbor-broker.service");
    let runbook = read("docs/broker.md");
    let names: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(names, ["harbor-password", "tls.key"]);
    for name in names {
        let path = format!("/run/credentials/harbor-broker.service/{name}\"");
        assert!(runbook.contains(&path), "docs/broker.md never names {path}");
    }
}

#[test]
fn the_deployment_keeps_its_hardening_and_the_secret_only_a_placeholder() {
    let deployment = read("deploy/kubernetes/deployment.yaml");
    for line in [
        "replicas: 2",
        "automountServiceAccountToken: false",
        "runAsNonRoot: true",
        "runAsUser: 65532",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "type: RuntimeDefault",
        "path: /healthz",
        "path: /readyz",
    ] {
        assert!(
            deployment.lines().any(|l| l.trim() == line),
            "deployment.yaml lost `{line}`"
        );
    }
    let secret = read("deploy/kubernetes/secret.yaml");
    let value = secret
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("secret.yaml has stringData password");
    assert!(
        value.trim_matches('"').starts_with("REPLACE-ME"),
        "secret.yaml must hold the placeholder, never a real password"
    );
}
