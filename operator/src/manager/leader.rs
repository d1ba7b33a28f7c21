//! Leader election on a coordination.k8s.io Lease: only the holder runs the controllers,
//! and losing the Lease stops them until it is won again.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use super::OperatorOptions;
use super::controllers;
use super::http::Health;
use crate::controller::{Context, FIELD_MANAGER};

/// Seconds a Lease stays valid without renewal.
const LEASE_DURATION_SECONDS: u64 = 15;

pub async fn run_as_leader(
    options: &OperatorOptions,
    client: kube::Client,
    context: Arc<Context>,
    health: Health,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let namespace = options
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("sutra-grid-{}", std::process::id()));
    let manager = LeaseManagerBuilder::new(client, &options.lease_name)
        .with_namespace(&namespace)
        .with_identity(&identity)
        .with_duration(LEASE_DURATION_SECONDS)
        .with_field_manager(FIELD_MANAGER)
        .build()
        .await
        .with_context(|| format!("setting up the Lease {namespace}/{}", options.lease_name))?;
    let (leading, lease_task) = manager.watch().await;
    tracing::info!(%identity, lease = %options.lease_name, %namespace, "waiting for leadership");
    follow_leadership(leading, stop, health.clone(), |lost| {
        controllers::run(context.clone(), health.clone(), lost)
    })
    .await?;
    // `follow_leadership` has dropped the receiver, which makes the manager release the
    // Lease, so a standby takes over at once instead of after the lease duration.
    lease_task
        .await
        .context("the Lease manager task panicked")?
        .context("releasing the Lease")?;
    Ok(())
}

/// Follows `leading` until `stop` turns true: runs the controllers (through
/// `run_controllers`) while this process holds the Lease, and stops them, by turning
/// their `lost` receiver true, as soon as it loses the Lease or is told to stop.
///
/// Returns (dropping `leading`) once `stop` is true and the controllers have stopped, or
/// with an error when the Lease manager goes away while standing by.
async fn follow_leadership<F, Fut>(
    mut leading: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
    health: Health,
    mut run_controllers: F,
) -> anyhow::Result<()>
where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()>,
{
    health.set_standby_or_leader(true);
    while !*stop.borrow() {
        if *leading.borrow_and_update() {
            tracing::info!("acquired the Lease, starting controllers");
            health.set_leading(true);
            let (lost_tx, lost_rx) = watch::channel(false);
            let mut watch_leading = leading.clone();
            let mut watch_stop = stop.clone();
            let relay = tokio::spawn(async move {
                tokio::select! {
                    _ = watch_leading.wait_for(|is_leader| !*is_leader) => {}
                    _ = watch_stop.wait_for(|stopping| *stopping) => {}
                }
                let _ = lost_tx.send(true);
            });
            run_controllers(lost_rx).await;
            relay.abort();
            health.set_leading(false);
            tracing::info!("controllers stopped");
            // A manager that died while we led leaves `true` as the last value: without this
            // check the loop would restart the controllers at once, forever.
            if leading.has_changed().is_err() {
                anyhow::bail!("the Lease manager stopped while this replica was leading");
            }
            continue;
        }
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the Lease manager stopped");
                }
            }
            _ = stop.changed() => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    use super::*;

    /// Bounds every wait, so a broken loop fails the test instead of hanging it.
    const LIMIT: Duration = Duration::from_secs(5);

    #[derive(Debug, PartialEq, Eq)]
    enum Event {
        Started,
        Stopped,
    }

    /// `follow_leadership` running in a task, with fake controllers that report when they
    /// start and stop, and stop when their `lost` receiver turns true.
    struct Harness {
        leading: watch::Sender<bool>,
        stop: watch::Sender<bool>,
        health: Health,
        events: mpsc::UnboundedReceiver<Event>,
        task: JoinHandle<anyhow::Result<()>>,
    }

    impl Harness {
        fn start(leading: bool) -> Self {
            let (leading_tx, leading_rx) = watch::channel(leading);
            let (stop_tx, stop_rx) = watch::channel(false);
            let (events_tx, events) = mpsc::unbounded_channel();
            let health = Health::default();
            let task = tokio::spawn(follow_leadership(
                leading_rx,
                stop_rx,
                health.clone(),
                move |mut lost: watch::Receiver<bool>| {
                    let events = events_tx.clone();
                    async move {
                        events.send(Event::Started).unwrap();
                        let _ = lost.wait_for(|lost| *lost).await;
                        events.send(Event::Stopped).unwrap();
                    }
                },
            ));
            Self {
                leading: leading_tx,
                stop: stop_tx,
                health,
                events,
                task,
            }
        }

        /// Starts holding the Lease and waits for the controllers to start.
        async fn start_leading() -> Self {
            let mut harness = Self::start(true);
            harness.expect(Event::Started).await;
            harness
        }

        async fn next_event(&mut self) -> Event {
            tokio::time::timeout(LIMIT, self.events.recv())
                .await
                .expect("no controller event in time")
                .expect("the fake controllers are gone")
        }

        /// Waits (bounded) until the loop has let go of the controllers' health.
        async fn until_not_leading(&self) {
            tokio::time::timeout(LIMIT, async {
                while is_leading(&self.health) {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("health still says leading");
        }

        /// Tells the loop whether this process holds the Lease.
        fn lead(&self, leading: bool) {
            self.leading.send(leading).unwrap();
        }

        /// The Lease is lost: waits for the controllers to stop and the health to follow.
        async fn lose_lead(&mut self) {
            self.lead(false);
            self.expect(Event::Stopped).await;
            self.until_not_leading().await;
        }

        /// Waits (bounded) for the fake controllers to report `event`.
        async fn expect(&mut self, event: Event) {
            assert_eq!(self.next_event().await, event);
        }

        /// The Lease manager goes away: its sender is dropped.
        fn kill_lease_manager(&mut self) {
            drop(std::mem::replace(
                &mut self.leading,
                watch::channel(false).0,
            ));
        }

        /// Asks the loop to stop; returns the events it still reported, and its health,
        /// once it returned cleanly.
        async fn stop_cleanly(self) -> (Vec<Event>, Health) {
            self.stop.send(true).unwrap();
            let (result, events, health) = self.finish().await;
            result.unwrap();
            (events, health)
        }

        /// Waits for the loop to fail because the Lease manager went away.
        async fn fails_for_the_lease_manager(self) -> (Vec<Event>, Health) {
            let (result, events, health) = self.finish().await;
            let error = result.expect_err("a dead Lease manager must not look like a clean stop");
            assert!(error.to_string().contains("Lease manager"), "{error}");
            (events, health)
        }

        async fn finish(self) -> (anyhow::Result<()>, Vec<Event>, Health) {
            // `stop` stays alive until the end: a closed `stop` is not a stop request.
            let Self {
                task,
                mut events,
                health,
                stop: _stop,
                leading: _leading,
            } = self;
            let result = tokio::time::timeout(LIMIT, task)
                .await
                .expect("follow_leadership did not return in time")
                .expect("follow_leadership panicked");
            let mut rest = Vec::new();
            while let Ok(event) = events.try_recv() {
                rest.push(event);
            }
            (result, rest, health)
        }
    }

    /// The fake controllers never mark the caches synced, so a process that stands by or
    /// leads is ready exactly when it is not leading.
    fn is_leading(health: &Health) -> bool {
        !health.is_ready()
    }

    #[tokio::test]
    async fn a_standby_never_starts_the_controllers() {
        let harness = Harness::start(false);
        harness.lead(false);
        tokio::task::yield_now().await;
        let (events, health) = harness.stop_cleanly().await;
        assert_eq!(events, []);
        assert!(health.is_ready(), "a standby is ready and not leading");
    }

    #[tokio::test]
    async fn gaining_leadership_starts_the_controllers_once() {
        let mut harness = Harness::start(false);
        harness.lead(true);
        harness.expect(Event::Started).await;
        assert!(is_leading(&harness.health));
        harness.lead(true);
        tokio::task::yield_now().await;
        assert!(harness.events.try_recv().is_err(), "started twice");
        let (events, _) = harness.stop_cleanly().await;
        assert_eq!(events, [Event::Stopped]);
    }

    #[tokio::test]
    async fn losing_leadership_stops_the_controllers() {
        let mut harness = Harness::start_leading().await;
        harness.lose_lead().await;
        assert!(
            !harness.task.is_finished(),
            "a lost Lease is no reason to exit"
        );
        let (events, health) = harness.stop_cleanly().await;
        assert_eq!(events, []);
        assert!(!is_leading(&health));
    }

    #[tokio::test]
    async fn regaining_leadership_starts_the_controllers_again() {
        let mut harness = Harness::start_leading().await;
        harness.lose_lead().await;
        harness.lead(true);
        harness.expect(Event::Started).await;
        assert!(is_leading(&harness.health));
        let (events, _) = harness.stop_cleanly().await;
        assert_eq!(events, [Event::Stopped]);
    }

    #[tokio::test]
    async fn stopping_while_leading_stops_the_controllers_and_returns() {
        let mut harness = Harness::start_leading().await;
        harness.stop.send(true).unwrap();
        harness.expect(Event::Stopped).await;
        let leading = harness.leading.clone();
        let (result, events, health) = harness.finish().await;
        result.unwrap();
        assert_eq!(events, []);
        assert!(!is_leading(&health));
        assert!(
            leading.is_closed(),
            "the leading receiver is dropped, so the manager releases the Lease"
        );
    }

    #[tokio::test]
    async fn a_lease_manager_that_dies_on_a_standby_is_an_error() {
        let mut harness = Harness::start(false);
        harness.kill_lease_manager();
        let (events, _) = harness.fails_for_the_lease_manager().await;
        assert_eq!(events, []);
    }

    #[tokio::test]
    async fn a_lease_manager_that_dies_while_leading_stops_the_controllers_once() {
        let mut harness = Harness::start_leading().await;
        harness.kill_lease_manager();
        harness.expect(Event::Stopped).await;
        let (events, health) = harness.fails_for_the_lease_manager().await;
        assert_eq!(events, [], "the controllers were restarted");
        assert!(!is_leading(&health));
    }
}
