//! Runs in and out of the page: importing a file (an exported simulator run, or a live
//! cluster's events files to replay), exporting the run, and sharing it as a link.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::modes::{Mode, RealCluster};
use crate::page::Page;
use crate::records::{self, Record};
use crate::replay::Replay;
use crate::share;

impl Page {
    /// One file of an import has been read; once all have, they are imported together.
    pub(crate) fn imported_part(&mut self, i: usize, text: String) {
        if let Some(slot) = self.importing.get_mut(i) {
            *slot = Some(text);
        }
        if self.importing.iter().all(Option::is_some) {
            let texts: Vec<String> = self.importing.drain(..).flatten().collect();
            self.import(&texts.join("\n"));
        }
    }

    fn import(&mut self, text: &str) {
        if records::is_events_file(text) {
            match records::parse_events(text) {
                Ok(records) => self.replay_records(records),
                Err(reason) => self.app.refusal = Some(reason),
            }
            self.drawn = None;
            return;
        }
        let parsed = ringside_sim::session::parse(text);
        if let (Ok(session), Mode::Live(_)) = (&parsed, &self.mode) {
            self.imported = Some(session.clone());
            self.app.notice = Some(format!(
                "imported a simulator run with {} inputs: “Re-run here” plays its actions on this cluster",
                session.inputs.len()
            ));
            self.drawn = None;
            return;
        }
        match parsed.and_then(|s| {
            self.imported = Some(s.clone());
            self.app.load(s)
        }) {
            Ok(()) => {
                self.leave_live();
                self.set_select("lesson-pick", "");
            }
            Err(reason) => self.app.refusal = Some(reason),
        }
        self.drawn = None;
    }

    /// Shows events files in the live views, record by record.
    fn replay_records(&mut self, records: Vec<Record>) {
        let (live, replay) = Replay::start(records);
        self.leave_live();
        self.enter(Mode::Replay(Box::new(RealCluster { live, driver: replay })));
    }

    /// Puts the run in the address bar.
    pub(crate) fn share(&mut self) -> Result<(), String> {
        let window = web_sys::window().ok_or("no window")?;
        let lesson = self.app.lesson.map(|l| (l.lesson, l.done));
        let fragment = share::fragment(&self.app.session) + &share::lesson_part(lesson);
        // Replacing the address does not reload the page.
        window.location().set_hash(&fragment).map_err(|_| "the address bar refused the link".to_string())?;
        self.app.refusal = None;
        self.app.notice = Some("Link ready: the address bar now replays this run; copy it to share.".into());
        Ok(())
    }

    /// Downloads the run: its session, trace and hash.
    pub(crate) fn export(&mut self) -> Result<(), String> {
        let text = share::export(&self.app.session, &self.app.sim);
        let parts = js_sys::Array::of1(&JsValue::from_str(&text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/json");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
            .map_err(|_| "the browser refused to build the file".to_string())?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "no download URL".to_string())?;
        let a: web_sys::HtmlAnchorElement =
            self.doc.create_element("a").map_err(|_| "no link")?.dyn_into().map_err(|_| "no link")?;
        a.set_href(&url);
        a.set_download(&format!("ringside-seed{}-step{}.json", self.app.session.setup.seed, self.app.sim.steps()));
        a.click();
        let _ = web_sys::Url::revoke_object_url(&url);
        Ok(())
    }
}
