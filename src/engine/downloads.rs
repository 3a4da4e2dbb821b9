//! Model downloads run beside the jobs, each on its own thread: fetching a
//! model for later never holds up the image being made now. Progress and the
//! outcome arrive as [`Event::Download`] on the engine's event channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::protocol::{DownloadUpdate, Event, JobId};
use super::worker::EventSink;
use crate::hub::{DownloadError, DownloadRequest, HubConfig};

/// Cancel flags of the downloads in flight.
#[derive(Default)]
pub(crate) struct Downloads {
    flags: Mutex<HashMap<JobId, Arc<AtomicBool>>>,
}

impl Downloads {
    /// Start fetching `request` into the hub cache as `job`.
    pub fn start(self: &Arc<Self>, job: JobId, request: DownloadRequest, sink: EventSink) {
        let flag = Arc::new(AtomicBool::new(false));
        if let Ok(mut flags) = self.flags.lock() {
            flags.insert(job, flag.clone());
        }
        let downloads = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("download {}", request.repo))
            .spawn({
                let sink = sink.clone();
                move || {
                    let hub = HubConfig::from_env();
                    let mut progress = |p: &crate::hub::DownloadProgress| {
                        sink.send(Event::Download {
                            job,
                            update: DownloadUpdate::Progress(p.clone()),
                        })
                    };
                    let update = match crate::hub::download(&hub, &request, &flag, &mut progress) {
                        Ok(done) => DownloadUpdate::Finished {
                            snapshot: done.snapshot,
                            fetched_bytes: done.fetched_bytes,
                        },
                        Err(DownloadError::Cancelled) => DownloadUpdate::Cancelled,
                        Err(e) => DownloadUpdate::Failed(e.to_string()),
                    };
                    if let Ok(mut flags) = downloads.flags.lock() {
                        flags.remove(&job);
                    }
                    sink.send(Event::Download { job, update });
                }
            });
        if let Err(e) = spawned {
            sink.send(Event::Download {
                job,
                update: DownloadUpdate::Failed(format!("could not start the download: {e}")),
            });
        }
    }

    /// Ask a download to stop; returns whether `job` was one.
    pub fn cancel(&self, job: JobId) -> bool {
        let flags = self.flags.lock();
        match flags.ok().and_then(|f| f.get(&job).cloned()) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}
