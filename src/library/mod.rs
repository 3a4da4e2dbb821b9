//! The image library: what is written into and read out of image files so
//! that a picture can be found again and reproduced, here and in the other
//! tools people use.
//!
//! - [`infotext`]: AUTOMATIC1111's `parameters` text (writer and parser);
//! - [`a1111`]: our parameters ↔ that text (sampler names, schedule types).

pub mod a1111;
pub mod infotext;

use crate::engine::JobResult;

/// The text chunks every PNG we write carries: A1111's `parameters`.
pub fn png_text_for(result: &JobResult) -> Vec<(String, String)> {
    let extras = a1111::InfotextExtras {
        model: Some(result.model.display_name()),
        model_hash: None,
        img2img: result.img2img,
    };
    vec![(
        "parameters".to_string(),
        a1111::to_infotext(&result.params, &extras),
    )]
}
