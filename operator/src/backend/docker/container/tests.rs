use std::path::PathBuf;

use bollard::models::ContainerConfig;
use sutra_core::crd::VectorSpec;
use sutra_core::vector::{Compression, Metric};

use super::*;

fn spec() -> NodeSpec {
    NodeSpec {
        grid: "demo".to_owned(),
        name: "local-1".to_owned(),
        ordinal: 1,
        variant: "x86-64-v3".to_owned(),
        image: "sutra-storage:0.1.0-x86-64-v3".to_owned(),
        vector: VectorSpec {
            dimension: 128,
            metric: Metric::L2,
            compression: Compression::Int8,
        },
        grpc_port: 50061,
        metrics_port: 9101,
        data_dir: PathBuf::from("/unused/by/docker"),
        memory_limit: Some(512 * 1024 * 1024),
        variant_rules: None,
    }
}

fn inspected(body: &ContainerCreateBody, state: ContainerState) -> ContainerInspectResponse {
    ContainerInspectResponse {
        config: Some(ContainerConfig {
            labels: body.labels.clone(),
            ..Default::default()
        }),
        host_config: body.host_config.clone(),
        state: Some(state),
        ..Default::default()
    }
}

#[test]
fn names_follow_grid_and_node() {
    assert_eq!(container_name("demo", "local-1"), "sutra-demo-local-1");
    assert_eq!(pause_name("demo", "local-1"), "sutra-demo-local-1-pause");
    assert_eq!(volume_name("demo", "local-1"), "sutra-demo-local-1-data");
}

#[test]
fn serve_command_passes_vector_settings_and_variant() {
    assert_eq!(
        serve_command(&spec(), DockerNetwork::Bridge).join(" "),
        "serve --data /data --dimension 128 --metric l2 --compression int8 \
         --grpc-addr 0.0.0.0:50051 --metrics-addr 0.0.0.0:9090 --variant x86-64-v3"
    );
    assert_eq!(
        serve_command(&spec(), DockerNetwork::Host).join(" "),
        "serve --data /data --dimension 128 --metric l2 --compression int8 \
         --grpc-addr 127.0.0.1:50061 --metrics-addr 127.0.0.1:9101 --variant x86-64-v3"
    );
}

#[test]
fn the_agents_rules_file_is_mounted_read_only_and_named_to_the_server() {
    let mut spec = spec();
    assert_eq!(
        create_body(&spec, &Carried::default(), DockerNetwork::Host)
            .host_config
            .unwrap()
            .mounts
            .unwrap()
            .len(),
        1
    );
    spec.variant_rules = Some("/home/me/variants.yaml".into());
    let body = create_body(&spec, &Carried::default(), DockerNetwork::Host);
    let mounts = body.host_config.unwrap().mounts.unwrap();
    assert_eq!(mounts[1].source.as_deref(), Some("/home/me/variants.yaml"));
    assert_eq!(mounts[1].target.as_deref(), Some(CONTAINER_VARIANT_RULES));
    assert_eq!(mounts[1].typ, Some(MountType::BIND));
    assert_eq!(mounts[1].read_only, Some(true));
    assert!(
        body.cmd
            .unwrap()
            .join(" ")
            .ends_with("--variant-rules /etc/sutra-storage/variants.yaml")
    );
}

#[test]
fn in_the_host_network_a_node_is_one_container_on_its_loopback_ports() {
    let body = create_body(&spec(), &Carried::default(), DockerNetwork::Host);
    let host = body.host_config.as_ref().unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.port_bindings, None);
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    assert_eq!(
        host.restart_policy.as_ref().unwrap().name,
        Some(RestartPolicyNameEnum::ON_FAILURE)
    );
    let mount = &host.mounts.as_ref().unwrap()[0];
    assert_eq!(mount.source.as_deref(), Some("sutra-demo-local-1-data"));
    let container = inspected(&body, ContainerState::default());
    // No pause container to follow: liveness is the container's own.
    assert_eq!(network_container(&container), None);
    assert_reached_on_the_spec_ports(|port| node_addr(&container, port));
}

/// `addr_of(container port)` gives the spec's loopback ports, 50061 and 9101.
fn assert_reached_on_the_spec_ports(addr_of: impl Fn(u16) -> Option<SocketAddr>) {
    assert_eq!(
        addr_of(CONTAINER_GRPC_PORT),
        Some("127.0.0.1:50061".parse().unwrap())
    );
    assert_eq!(
        addr_of(CONTAINER_METRICS_PORT),
        Some("127.0.0.1:9101".parse().unwrap())
    );
}

#[test]
fn node_container_joins_its_pause_mounts_limits_and_restarts_on_failure() {
    let body = create_body(&spec(), &carried(2), DockerNetwork::Bridge);
    let labels = body.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_GRID], "true");
    assert_eq!(labels[LABEL_GRID_NAME], "demo");
    assert_eq!(labels[LABEL_NODE_ID], "local-1");
    assert_eq!(labels[LABEL_ROLE], ROLE_NODE);
    assert_eq!(labels[LABEL_VARIANT], "x86-64-v3");
    assert_eq!(labels[LABEL_PRIOR_RESTARTS], "2");
    assert_eq!(body.image.as_deref(), Some("sutra-storage:0.1.0-x86-64-v3"));
    assert_eq!(body.entrypoint, None);

    let host = body.host_config.as_ref().unwrap();
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    assert_eq!(
        host.restart_policy.as_ref().unwrap().name,
        Some(RestartPolicyNameEnum::ON_FAILURE)
    );
    assert_eq!(host.port_bindings, None);
    let mount = &host.mounts.as_ref().unwrap()[0];
    assert_eq!(mount.source.as_deref(), Some("sutra-demo-local-1-data"));
    assert_eq!(mount.target.as_deref(), Some("/data"));
    assert_eq!(mount.typ, Some(MountType::VOLUME));
    let container = inspected(&body, ContainerState::default());
    assert_eq!(
        network_container(&container),
        Some("sutra-demo-local-1-pause")
    );
    assert_reached_on_the_spec_ports(|port| node_addr(&container, port));
}

#[test]
fn a_container_owning_its_network_is_reached_on_its_own_published_ports() {
    let mut container = inspected(&pause_body(&spec()), ContainerState::default());
    container.config = None;
    assert_eq!(
        node_addr(&container, CONTAINER_METRICS_PORT),
        Some("127.0.0.1:9101".parse().unwrap())
    );
}

#[test]
fn pause_container_runs_the_pause_program_and_publishes_the_ports() {
    let body = pause_body(&spec());
    assert_eq!(body.image.as_deref(), Some("sutra-storage:0.1.0-x86-64-v3"));
    assert_eq!(body.entrypoint, Some(vec![PAUSE_PATH.to_owned()]));
    assert_eq!(body.cmd, None);
    let labels = body.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_GRID_NAME], "demo");
    assert_eq!(labels[LABEL_NODE_ID], "local-1");
    assert_eq!(labels[LABEL_ROLE], ROLE_PAUSE);
    let host = body.host_config.as_ref().unwrap();
    assert_eq!((host.memory, host.restart_policy.clone()), (None, None));
    let mount = &host.mounts.as_ref().unwrap()[0];
    assert_eq!(
        (mount.target.as_deref(), mount.typ),
        (Some("/data"), Some(MountType::TMPFS))
    );

    let pause = inspected(&body, ContainerState::default());
    assert_eq!(network_container(&pause), None);
    assert_reached_on_the_spec_ports(|port| published_addr(&pause, port));
    assert!(publishes(&pause, &spec()));
    let named = ContainerInspectResponse {
        id: Some("0123abcd".to_owned()),
        name: Some("/sutra-demo-local-1-pause".to_owned()),
        ..Default::default()
    };
    assert!(is_named(&named, "0123abcd"));
    assert!(is_named(&named, "sutra-demo-local-1-pause"));
    assert!(!is_named(&named, "sutra-demo-local-2-pause"));
    let mut moved = spec();
    moved.metrics_port += 1;
    assert!(!publishes(&pause, &moved));
}

#[test]
fn no_memory_limit_when_the_spec_sets_none() {
    let mut spec = spec();
    spec.memory_limit = None;
    assert_eq!(
        create_body(&spec, &Carried::default(), DockerNetwork::Bridge)
            .host_config
            .unwrap()
            .memory,
        None
    );
}

#[test]
fn restarts_add_carried_over_and_engine_counts() {
    let mut container = inspected(
        &create_body(&spec(), &carried(3), DockerNetwork::Host),
        ContainerState::default(),
    );
    container.restart_count = Some(2);
    assert_eq!(restarts(&container), 5);
    container.config = None;
    assert_eq!(restarts(&container), 2);
}

#[test]
fn liveness_and_phase_follow_the_engine_state() {
    let state = |status, restarting| ContainerState {
        status: Some(status),
        restarting: Some(restarting),
        running: Some(status == ContainerStateStatusEnum::RUNNING),
        ..Default::default()
    };
    let running = Liveness::of(Some(&state(ContainerStateStatusEnum::RUNNING, false)));
    assert_eq!(running, Liveness::Running);
    assert_eq!(running.phase(true), NodePhase::Ready);
    assert_eq!(running.phase(false), NodePhase::Running);

    let restarting = Liveness::of(Some(&state(ContainerStateStatusEnum::RESTARTING, true)));
    assert_eq!(restarting, Liveness::Restarting);
    assert!(restarting.is_alive());
    assert_eq!(restarting.phase(false), NodePhase::Scheduled);

    let created = Liveness::of(Some(&state(ContainerStateStatusEnum::CREATED, false)));
    assert_eq!(created, Liveness::Created);
    assert!(!created.is_alive());
    assert_eq!(created.phase(false), NodePhase::Scheduled);

    let exited = Liveness::of(Some(&state(ContainerStateStatusEnum::EXITED, false)));
    assert_eq!(exited, Liveness::Down);
    assert!(!exited.is_alive());
    assert_eq!(exited.phase(false), NodePhase::Failed);
    assert_eq!(Liveness::of(None), Liveness::Down);
}

#[test]
fn started_at_ignores_the_never_started_zero_time() {
    let state = |at: &str| ContainerState {
        started_at: Some(at.to_owned()),
        ..Default::default()
    };
    assert_eq!(started_at(Some(&state("0001-01-01T00:00:00Z"))), None);
    let at = started_at(Some(&state("2026-11-23T09:27:24.558747834Z"))).unwrap();
    assert_eq!(at.to_rfc3339(), "2026-11-23T09:27:24.558747834+00:00");
}

fn carried(restarts: u32) -> Carried {
    Carried {
        restarts,
        last_termination: None,
    }
}

fn with_state(state: ContainerState) -> ContainerInspectResponse {
    inspected(
        &create_body(&spec(), &Carried::default(), DockerNetwork::Host),
        state,
    )
}

fn exited(oom_killed: bool, exit_code: i64) -> ContainerState {
    ContainerState {
        status: Some(ContainerStateStatusEnum::EXITED),
        running: Some(false),
        oom_killed: Some(oom_killed),
        exit_code: Some(exit_code),
        finished_at: Some("2026-11-23T09:27:24Z".to_owned()),
        ..Default::default()
    }
}

#[test]
fn last_termination_while_down_names_an_oom_kill() {
    let oom = last_termination(&with_state(exited(true, 137))).unwrap();
    assert_eq!(
        (oom.reason, oom.exit_code),
        (TerminationReason::OomKilled, Some(137))
    );
    let crash = last_termination(&with_state(exited(false, 1))).unwrap();
    assert_eq!(
        (crash.reason, crash.message.as_str()),
        (TerminationReason::Error, "exited with code 1")
    );
    let running = ContainerState {
        running: Some(true),
        ..exited(true, 137)
    };
    assert_eq!(last_termination(&with_state(running.clone())), None);
    let restarting = ContainerState {
        restarting: Some(true),
        ..running
    };
    assert!(last_termination(&with_state(restarting)).is_some());
    let never_ran = ContainerState {
        finished_at: Some("0001-01-01T00:00:00Z".to_owned()),
        ..exited(false, 0)
    };
    assert_eq!(last_termination(&with_state(never_ran)), None);
}

#[test]
fn a_run_the_engine_restarted_still_shows_when_it_failed() {
    let mut container = with_state(ContainerState {
        running: Some(true),
        ..exited(false, 0)
    });
    container.restart_count = Some(1);
    let last = last_termination(&container).unwrap();
    assert_eq!(last.reason, TerminationReason::Error);
    assert_eq!(last.finished_at.to_rfc3339(), "2026-11-23T09:27:24+00:00");
}

#[test]
fn a_recreated_container_carries_its_predecessors_end() {
    let dead = with_state(exited(false, 137));
    let carried = Carried::from_dead(&dead);
    assert_eq!(carried.restarts, 1);
    let successor = inspected(
        &create_body(&spec(), &carried, DockerNetwork::Host),
        ContainerState {
            running: Some(true),
            ..ContainerState::default()
        },
    );
    let last = last_termination(&successor).unwrap();
    assert_eq!(last, last_termination(&dead).unwrap());
    assert_eq!(last.message, "exited with code 137");
}

#[test]
fn host_pid_only_while_a_process_runs() {
    let state = |pid| ContainerState {
        pid: Some(pid),
        ..Default::default()
    };
    assert_eq!(host_pid(Some(&state(4242))), Some(4242));
    assert_eq!(host_pid(Some(&state(0))), None);
    assert_eq!(host_pid(None), None);
}
