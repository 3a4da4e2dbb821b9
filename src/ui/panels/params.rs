//! Model, size, steps, CFG, sampler, seed and batch, each with a tooltip
//! saying what it does.

use crate::sampling::schedulers::SamplerKind;
use crate::ui::actions::Action;
use crate::ui::settings::{random_seed, BATCH_SLIDER, CFG_SLIDER, STEPS_SLIDER};
use crate::ui::state::Studio;

pub fn show(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    model_picker(ui, studio, actions);
    let s = &mut studio.settings;
    egui::Grid::new("params")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            let label = ui
                .label("Size")
                .on_hover_text("Output size in pixels. Models look best at the size they were trained at.");
            let presets = s.size_presets();
            let native = s.size_label_for(None);
            egui::ComboBox::from_id_salt("size")
                .selected_text(s.size_label())
                .width(200.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.size, None, native);
                    for p in presets {
                        ui.selectable_value(&mut s.size, Some((p.width, p.height)), p.label);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();

            ui.label("Steps");
            ui.add(egui::Slider::new(&mut s.steps, STEPS_SLIDER).text("steps"))
                .on_hover_text("Denoising steps: more is slower and usually finer. Turbo models need 1–4.");
            ui.end_row();

            ui.label("CFG");
            ui.add(egui::Slider::new(&mut s.cfg_scale, CFG_SLIDER).step_by(0.5).text("CFG scale"))
                .on_hover_text("Classifier-free guidance: how strongly to follow the prompt. 1 or less turns it off (Turbo); 5–9 is typical.");
            ui.end_row();

            let label = ui.label("Sampler");
            egui::ComboBox::from_id_salt("sampler")
                .selected_text(s.sampler.a1111_name())
                .show_ui(ui, |ui| {
                    for &k in SamplerKind::ALL {
                        ui.selectable_value(&mut s.sampler, k, k.a1111_name())
                            .on_hover_text(sampler_help(k));
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text("How each step moves from noise towards the image.");
            ui.end_row();

            let seed_label = ui.label("Seed");
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut s.seed).range(0..=u32::MAX as u64))
                    .labelled_by(seed_label.id)
                    .on_hover_text("The noise the image starts from: same seed + same settings = same image.");
                if ui.button("🎲").on_hover_text("New random seed").clicked() {
                    s.seed = random_seed();
                }
                ui.checkbox(&mut s.seed_locked, "Lock")
                    .on_hover_text("Keep this seed after Generate (otherwise a new one is rolled each time).");
            });
            ui.end_row();

            ui.label("Batch");
            ui.add(egui::Slider::new(&mut s.batch, BATCH_SLIDER).text("images"))
                .on_hover_text("Images per Generate; their seeds count up from the seed above.");
            ui.end_row();
        });
}

fn model_picker(ui: &mut egui::Ui, studio: &mut Studio, actions: &mut Vec<Action>) {
    let current = studio.settings.model.trim().to_string();
    ui.horizontal(|ui| {
        let label = ui.label("Model").on_hover_text(
            "A diffusers folder, a .safetensors checkpoint, or a Hugging Face repo id (e.g. stabilityai/sd-turbo).",
        );
        let shown = if current.is_empty() {
            "none chosen".to_string()
        } else {
            studio.model_label(&current)
        };
        egui::ComboBox::from_id_salt("model")
            .selected_text(shown)
            .width(220.0)
            .show_ui(ui, |ui| {
                if studio.models.is_empty() {
                    ui.weak(if studio.models_scanned {
                        "No installed models found"
                    } else {
                        "Looking for models…"
                    });
                }
                for m in &studio.models {
                    let label = format!("{}  ({})", m.name, m.origin);
                    if ui.selectable_label(m.value == current, label).clicked() {
                        actions.push(Action::ChooseModel(m.value.clone()));
                    }
                }
                for m in &studio.settings.recent_models {
                    if !studio.models.iter().any(|c| &c.value == m)
                        && ui.selectable_label(*m == current, format!("{m}  (recent)")).clicked()
                    {
                        actions.push(Action::ChooseModel(m.clone()));
                    }
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(current.clone());
    });
    ui.horizontal(|ui| {
        let label = ui.label("or");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut studio.model_input)
                    .hint_text("folder path or owner/repo")
                    .desired_width(170.0),
            )
            .labelled_by(label.id);
        let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Use").clicked() || enter) && !studio.model_input.trim().is_empty() {
            actions.push(Action::ChooseModel(studio.model_input.trim().to_string()));
        }
        if ui
            .button("Folder…")
            .on_hover_text("Choose a diffusers model folder on disk")
            .clicked()
        {
            actions.push(Action::AddModelFolder);
        }
        if ui
            .button("File…")
            .on_hover_text(
                "Choose a single-file .safetensors checkpoint (SD 1.x, 2.x, SDXL), or drop one on the window",
            )
            .clicked()
        {
            actions.push(Action::AddCheckpoint);
        }
    });
    catalog_downloads(ui, studio, actions);
}

/// Catalog models not installed yet, each with its size, license and a
/// Download button (or the running download's progress and Cancel).
fn catalog_downloads(ui: &mut egui::Ui, studio: &Studio, actions: &mut Vec<Action>) {
    use crate::hub::format_bytes;
    use crate::models::catalog::CATALOG;
    let missing: Vec<_> = CATALOG
        .iter()
        .filter(|e| !studio.models.iter().any(|m| m.value == e.repo))
        .filter(|e| !studio.installed_extras.contains(&e.id))
        .filter(|e| e.is_pipeline() || !matches!(e.kind, crate::models::catalog::EntryKind::Vae(_)))
        .collect();
    if missing.is_empty() || !studio.models_scanned {
        return;
    }
    let header = if studio.downloads.is_empty() {
        "Download models".to_string()
    } else {
        format!("Download models ({} running)", studio.downloads.len())
    };
    egui::CollapsingHeader::new(header)
        .id_salt("catalog")
        .default_open(studio.settings.model.is_empty() || !studio.downloads.is_empty())
        .show(ui, |ui| {
            for entry in missing {
                let running = studio.downloads.iter().find(|d| d.id == entry.id);
                ui.horizontal(|ui| {
                    ui.strong(entry.name);
                    ui.weak(format_bytes(entry.bytes_for(false)));
                    ui.hyperlink_to(entry.license.name, entry.license.url)
                        .on_hover_text(entry.license.url);
                });
                ui.horizontal(|ui| match running {
                    Some(d) => {
                        if ui.button("Cancel download").clicked() {
                            actions.push(Action::CancelDownload(d.job));
                        }
                        ui.add(
                            egui::ProgressBar::new(d.fraction)
                                .desired_width(160.0)
                                .show_percentage(),
                        );
                    }
                    None => {
                        let partial = studio
                            .partial_downloads
                            .iter()
                            .find(|(id, _)| *id == entry.id);
                        let label = match partial {
                            Some((_, part)) => {
                                format!("Resume {} ({:.0}% here)", entry.name, part * 100.0)
                            }
                            None => format!("Download {}", entry.name),
                        };
                        if ui
                            .button(label)
                            .on_hover_text(format!(
                                "{}\nInto the Hugging Face cache, from {}",
                                entry.summary,
                                entry.hub_url()
                            ))
                            .clicked()
                        {
                            actions.push(Action::DownloadModel(entry.id));
                        }
                    }
                });
                if let Some(d) = running {
                    ui.weak(&d.label);
                }
                ui.add_space(2.0);
            }
        });
}

fn sampler_help(k: SamplerKind) -> &'static str {
    match k {
        SamplerKind::EulerAncestral => {
            "Adds fresh noise each step: lively, changes with step count."
        }
        SamplerKind::Euler => "Deterministic and simple; converges as steps grow.",
        SamplerKind::DpmPp2M => "Second-order: good images in 20–30 steps.",
        SamplerKind::DpmPp2MKarras => "DPM++ 2M on the Karras noise ramp: a popular default.",
        SamplerKind::Ddim => "Deterministic DDIM (eta 0), the classic.",
        SamplerKind::Lcm => "For LCM / LCM-LoRA models, 2–8 steps.",
        SamplerKind::UniPc => "Predictor-corrector: good in very few steps.",
    }
}
