//! What a finished job writes into its PNG: A1111's `parameters` text (for
//! other tools) and our lossless `latent-studio` JSON record.

use super::JobResult;
use crate::library::{a1111, record};

impl JobResult {
    /// Our lossless record of this job (model, parameters, scheduler, start image).
    pub fn record(&self) -> record::StudioRecord {
        record::StudioRecord {
            app_version: env!("CARGO_PKG_VERSION").to_string(),
            model: self.model.clone(),
            model_revision: self.model_revision.clone(),
            model_hash: self.model_hash.clone(),
            params: self.params.clone(),
            img2img: self.img2img,
            start_image_sha256: self.start_image_sha256.clone(),
            scheduler: self.scheduler.clone(),
        }
    }

    /// The text chunks every PNG we write carries, in order.
    pub fn png_text(&self) -> Vec<(String, String)> {
        let extras = a1111::InfotextExtras {
            model: Some(self.model.display_name()),
            model_hash: self.model_hash.clone(),
            img2img: self.img2img,
        };
        vec![
            (
                "parameters".to_string(),
                a1111::to_infotext(&self.params, &extras),
            ),
            (record::KEYWORD.to_string(), self.record().to_json()),
        ]
    }
}
