//! The engine thread: job order, events, cancellation, failures, shutdown.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{tiny_model, Family};
use latent_studio::diffusion::params::GenerationParams;
use latent_studio::engine::{Engine, EngineOptions, Event, JobId, JobRequest, StartImage};
use latent_studio::models::source::ModelSource;

const TIMEOUT: Duration = Duration::from_secs(120);

fn request(root: &std::path::Path, steps: usize) -> JobRequest {
    JobRequest {
        model: ModelSource::Folder(root.to_path_buf()),
        params: GenerationParams {
            prompt: "a terrier".into(),
            steps,
            seed: 1,
            width: Some(64),
            height: Some(64),
            ..Default::default()
        },
        start_image: None,
    }
}

fn engine() -> Engine {
    Engine::spawn(EngineOptions::default()).unwrap()
}

/// Collect events until `job` ends; returns them in order.
fn events_until_end(engine: &Engine, job: JobId) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let e = engine
            .events()
            .recv_timeout(TIMEOUT)
            .expect("engine went silent");
        let done = e.job() == Some(job)
            && matches!(
                e,
                Event::Finished { .. } | Event::Cancelled { .. } | Event::Failed { .. }
            );
        out.push(e);
        if done {
            return out;
        }
    }
}

#[test]
fn a_job_streams_loading_start_steps_and_result() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let job = engine.submit(request(&root, 5));
    let events = events_until_end(&engine, job);
    assert!(matches!(events[0], Event::ModelLoading { .. }));
    let started = events
        .iter()
        .position(|e| matches!(e, Event::Started { total_steps: 5, .. }));
    let steps: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step {
                step,
                total: 5,
                preview,
                ..
            } => {
                assert_eq!((preview.width, preview.height), (8, 8));
                Some(*step)
            }
            _ => None,
        })
        .collect();
    assert!(started.is_some());
    assert_eq!(steps, vec![1, 2, 3, 4, 5]);
    match events.last().unwrap() {
        Event::Finished { result, .. } => {
            assert_eq!(result.image.dimensions(), (64, 64));
            assert_eq!(result.previews.len(), 5);
            assert_eq!(result.params.steps, 5);
        }
        other => panic!("expected Finished, got {other:?}"),
    }
}

#[test]
fn cancel_stops_within_a_step_and_the_next_job_runs() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let long = engine.submit(request(&root, 50));
    let next = engine.submit(request(&root, 2));
    let mut last_step = 0;
    loop {
        match engine.events().recv_timeout(TIMEOUT).unwrap() {
            Event::Step { job, step, .. } if job == long => {
                if step == 2 {
                    engine.cancel(long);
                }
                last_step = step;
            }
            Event::Cancelled { job } if job == long => break,
            Event::Finished { job, .. } if job == long => panic!("cancelled job finished"),
            _ => {}
        }
    }
    assert!(last_step <= 3, "ran {last_step} steps after cancel at 2");
    let events = events_until_end(&engine, next);
    assert!(matches!(events.last(), Some(Event::Finished { .. })));
}

#[test]
fn jobs_run_in_submission_order_and_queued_jobs_can_be_cancelled() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let a = engine.submit(request(&root, 2));
    let b = engine.submit(request(&root, 2));
    let c = engine.submit(request(&root, 2));
    engine.cancel(b);
    let events = events_until_end(&engine, c);
    let finished: Vec<JobId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finished { job, .. } => Some(*job),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec![a, c]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Cancelled { job } if *job == b)));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Started { job, .. } if *job == b)));
}

#[test]
fn a_failed_job_reports_and_the_engine_goes_on() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let bad = engine.submit(JobRequest {
        model: ModelSource::Folder(PathBuf::from("/no/such/model")),
        ..request(&root, 2)
    });
    let mut unreadable = request(&root, 2);
    let not_an_image = root.join("model_index.json");
    unreadable.start_image = Some(StartImage::Path(not_an_image));
    let bad_image = engine.submit(unreadable);
    let mut invalid = request(&root, 2);
    invalid.params.steps = 0;
    let bad_steps = engine.submit(invalid);
    let good = engine.submit(request(&root, 2));

    let events = events_until_end(&engine, good);
    let error_of = |id: JobId| {
        events
            .iter()
            .find_map(|e| match e {
                Event::Failed { job, error } if *job == id => Some(error.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("job {id} did not fail"))
    };
    assert!(error_of(bad).contains("/no/such/model"));
    assert!(error_of(bad_image).contains("not a readable image"));
    assert!(error_of(bad_steps).contains("steps"));
    assert!(matches!(events.last(), Some(Event::Finished { .. })));
}

#[test]
fn the_model_is_loaded_once_and_cached() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let a = engine.submit(request(&root, 1));
    let first = events_until_end(&engine, a);
    assert!(first
        .iter()
        .any(|e| matches!(e, Event::ModelLoading { .. })));
    let b = engine.submit(request(&root, 1));
    let second = events_until_end(&engine, b);
    assert!(!second
        .iter()
        .any(|e| matches!(e, Event::ModelLoading { .. })));
}

#[test]
fn notify_is_called_for_events_and_shutdown_joins() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (_tmp, root) = tiny_model(Family::Sd1);
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let engine = Engine::spawn(EngineOptions {
        notify: Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })),
        ..Default::default()
    })
    .unwrap();
    let job = engine.submit(request(&root, 2));
    let events = events_until_end(&engine, job);
    assert!(engine.is_alive());
    // Joining the thread guarantees every notify call has happened.
    engine.shutdown();
    assert!(count.load(Ordering::Relaxed) >= events.len());
}

#[test]
fn shutdown_interrupts_a_long_job() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let engine = engine();
    let job = engine.submit(request(&root, 150));
    loop {
        if let Event::Step { job: j, .. } = engine.events().recv_timeout(TIMEOUT).unwrap() {
            if j == job {
                break;
            }
        }
    }
    let started = std::time::Instant::now();
    engine.shutdown();
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_restarted_engine_runs_jobs_again() {
    let (_tmp, root) = tiny_model(Family::Sd1);
    let mut engine = engine();
    let first = engine.submit(request(&root, 1));
    assert!(matches!(
        events_until_end(&engine, first).last(),
        Some(Event::Finished { .. })
    ));
    engine.restart().unwrap();
    assert!(engine.is_alive());
    let second = engine.submit(request(&root, 1));
    assert_ne!(first, second, "job ids stay unique across restarts");
    assert!(matches!(
        events_until_end(&engine, second).last(),
        Some(Event::Finished { .. })
    ));
}
