//! A cycle's time, per phase (what the user sees) and per finer stage (what the timings line
//! and the benchmarks report), told to the reporter as it goes.

use std::time::{Duration, Instant};

use crate::events::{Event, Phase, Reporter, Stage};

/// Adds each of `more` to `into`'s entry of the same phase or stage (a multi-stage image's
/// builders and its replay each have an `exec`, a `build`): one total per name, in the order
/// first met, as the reports give them as maps.
pub(super) fn add_times<K: PartialEq + Copy>(into: &mut Vec<(K, Duration)>, more: &[(K, Duration)]) {
    for (key, elapsed) in more {
        match into.iter_mut().find(|(k, _)| k == key) {
            Some((_, total)) => *total += *elapsed,
            None => into.push((*key, *elapsed)),
        }
    }
}

/// Records per-phase time (and the finer stages) and tells the reporter.
pub(super) struct Phases<'a> {
    pub reporter: &'a mut dyn Reporter,
    pub timings: Vec<(Phase, Duration)>,
    pub stages: Vec<(Stage, Duration)>,
    current: Option<(Phase, Instant)>,
}

impl<'a> Phases<'a> {
    pub(super) fn new(reporter: &'a mut dyn Reporter) -> Self {
        Phases { reporter, timings: Vec::new(), stages: Vec::new(), current: None }
    }

    /// Adds `elapsed` to `stage` (a stage may be met more than once: several rebuild steps).
    pub(super) fn stage(&mut self, stage: Stage, elapsed: Duration) {
        match self.stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, total)) => *total += elapsed,
            None => self.stages.push((stage, elapsed)),
        }
    }

    /// Runs `work`, adding its time to `stage`.
    pub(super) async fn timed<T>(&mut self, stage: Stage, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let result = work.await;
        self.stage(stage, started.elapsed());
        result
    }

    pub(super) fn start(&mut self, phase: Phase, detail: impl Into<String>) {
        self.finish();
        self.reporter.report(Event::PhaseStarted { phase, detail: detail.into() });
        self.current = Some((phase, Instant::now()));
    }

    pub(super) fn finish(&mut self) {
        if let Some((phase, started)) = self.current.take() {
            let elapsed = started.elapsed();
            add_times(&mut self.timings, &[(phase, elapsed)]);
            self.reporter.report(Event::PhaseFinished { phase, elapsed });
        }
    }

    pub(super) fn note(&mut self, text: impl Into<String>) {
        self.reporter.report(Event::Note(text.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_the_same_phase_add_up_in_the_order_first_met() {
        let ms = Duration::from_millis;
        let mut total = vec![(Phase::Sync, ms(1)), (Phase::Exec, ms(5755))];
        add_times(&mut total, &[(Phase::Exec, ms(183)), (Phase::Replay, ms(97)), (Phase::Commit, ms(58))]);
        assert_eq!(
            total,
            [(Phase::Sync, ms(1)), (Phase::Exec, ms(5938)), (Phase::Replay, ms(97)), (Phase::Commit, ms(58))]
        );
    }
}
