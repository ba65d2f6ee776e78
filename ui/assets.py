"""The page script and styles ``ui.app.launch`` adds (Gradio 6 takes them in ``launch()``)."""

from __future__ import annotations

# Sends clicks on [n] links (href="#rag:ACTION") and "show in document" buttons
# (data-rag-action="ACTION"), both made in ui/render.py, to the server via the hidden #rag-act.
PAGE_JS = """
() => {
  if (window.__ragBridge) return;
  window.__ragBridge = true;
  document.addEventListener("click", (event) => {
    const el = event.target.closest &&
      event.target.closest("[data-rag-action], a[href^='#rag:']");
    if (!el) return;
    event.preventDefault();
    event.stopPropagation();
    window.__ragAction = el.getAttribute("data-rag-action") ||
      el.getAttribute("href").slice("#rag:".length);
    const go = document.getElementById("rag-act");
    if (go) go.click();
  }, true);
}
"""

# The #rag-act handler's input: the action the bridge stored (the State passes through).
ACTION_JS = "(value, history) => [window.__ragAction || '', history]"

# After the server answered an action: bring the chosen source or paragraph into view.
SCROLL_JS = """
() => {
  const action = window.__ragAction || "";
  let selector = null;
  if (action.startsWith("cite:")) {
    const [, turn, n] = action.split(":");
    selector = `#sources-panel #src-${turn}-${n}`;
  } else if (action.startsWith("open:") || action.startsWith("page:")) {
    selector = `#doc-view .rag-docview[data-view="${action}"] .rag-target`;
  }
  if (!selector) return;
  let tries = 0;
  const tick = () => {
    const el = document.querySelector(selector);
    if (!el) { if (tries++ < 80) setTimeout(tick, 50); return; }
    el.scrollIntoView({block: "center"});
    el.classList.add("rag-flash");
    setTimeout(() => el.classList.remove("rag-flash"), 1500);
  };
  tick();
}
"""

CSS = """
#sources-panel .rag-sources { max-height: 46vh; overflow-y: auto; padding-right: 4px; }
#doc-view .rag-doc-body { max-height: 48vh; overflow-y: auto; padding-right: 4px; }
.rag-sources h3, .rag-docview-head { margin: 0 0 6px 0; font-size: 1rem; }
.rag-sources ol, .rag-sources ul { padding-left: 0; list-style: none; margin: 0; }
.rag-source, .rag-related-item {
  border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 6px 0;
}
.rag-source.rag-active {
  border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft);
}
.rag-source-head { font-size: .85rem; color: var(--body-text-color-subdued); }
.rag-n { font-weight: 700; color: var(--color-accent); }
.rag-para {
  margin: 6px 0; padding: 0 0 0 8px; border-left: 3px solid var(--border-color-primary);
  line-height: 1.6;
}
.rag-sources mark, .rag-docview mark { background: #ffe58f; color: #111; padding: 0 1px; }
.rag-open, .rag-page {
  font-size: .8rem; padding: 2px 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
}
.rag-cite {
  cursor: pointer; text-decoration: none !important; font-size: .8em; vertical-align: super;
  padding: 0 2px; border-radius: 4px; background: var(--color-accent-soft);
}
.rag-cite-missing {
  color: var(--body-text-color-subdued); font-size: .8em; vertical-align: super;
}
.rag-note, .rag-hint, .rag-asked {
  font-size: .8rem; color: var(--body-text-color-subdued); margin-top: 4px;
}
.rag-label { font-weight: 600; }
.rag-abstained .rag-label { color: #b45309; }
.rag-error .rag-label { color: #b91c1c; }
.rag-stopped .rag-label { color: var(--body-text-color-subdued); font-size: .85rem; }
.rag-cursor { animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-doc-para { margin: 4px 0; padding: 4px 6px; line-height: 1.6; border-radius: 4px; }
.rag-doc-para.rag-target { background: rgba(255, 229, 143, .35); border-left: 3px solid #f59e0b; }
.rag-page-image { width: 100%; height: auto; border: 1px solid var(--border-color-primary); }
.rag-pnum { font-size: .75rem; color: var(--body-text-color-subdued); margin-right: 4px; }
.rag-flash { animation: rag-flash 1.5s ease-out; }
@keyframes rag-flash { from { background: rgba(245, 158, 11, .55); } }
.rag-footer { font-size: .8rem; color: var(--body-text-color-subdued); }
.rag-upload-error { color: #b91c1c; }
.rag-empty { color: var(--body-text-color-subdued); font-size: .9rem; }
"""
