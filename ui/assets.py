"""CSS, browser-side JavaScript and the theme of the chat UI (no network: system fonts only)."""

from __future__ import annotations

import gradio as gr

# Runs once when the sources panel mounts. One document-level listener (capture phase, so the
# Chatbot's own link handling never opens a new tab): a click on a [n] marker shows that answer's
# sources and highlights card n; a click elsewhere in an answer shows that answer's sources.
# Also: Ask is disabled while the question box is empty (nothing empty is ever sent).
PAGE_JS = r"""
if (!window.__ragSources) {
  window.__ragSources = true;
  // Scroll each visible chunk so that the line holding its highlighted span is the second line
  // shown (one line of context above), on a whole line: no line is ever cut at the top.
  const reveal = (root) => {
    (root || document).querySelectorAll('.src-turn:not([hidden]) .src-text').forEach((box) => {
      const mark = box.querySelector('mark');
      if (!mark) return;
      const line = parseFloat(getComputedStyle(box).lineHeight) || 20;
      const top = mark.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
      box.scrollTop = Math.max(0, (Math.floor((top + 1) / line) - 1) * line);
    });
  };
  window.ragReveal = reveal;
  const show = (turn, n) => {
    const root = document.querySelector('.rag-sources');
    if (!root) return;
    let section = null;
    root.querySelectorAll('.src-turn').forEach((s) => {
      const on = s.dataset.turn === String(turn);
      s.hidden = !on;
      if (on) section = s;
    });
    root.querySelectorAll('.src-card.active').forEach((c) => c.classList.remove('active'));
    document.querySelectorAll('.rag-answer.selected').forEach((a) => a.classList.remove('selected'));
    const answer = document.getElementById('answer-' + turn);
    if (answer) answer.classList.add('selected');
    if (!section) return;
    reveal(section.parentElement);
    const card = n == null ? null : document.getElementById('src-' + turn + '-' + n);
    const target = card || section;
    if (card) {
      void card.offsetWidth;  // restart the highlight animation on repeated clicks
      card.classList.add('active');
    }
    target.scrollIntoView({block: card ? 'center' : 'start', behavior: 'smooth'});
  };
  window.ragShowSource = show;
  document.addEventListener('click', (ev) => {
    const el = ev.target instanceof Element ? ev.target : null;
    if (!el) return;
    const link = el.closest('a[href^="#src-"]');
    if (link) {
      ev.preventDefault();
      ev.stopPropagation();
      const m = (link.getAttribute('href') || '').match(/^#src-(\d+)-(\d+)$/);
      if (m) show(m[1], m[2]);
      return;
    }
    const answer = el.closest('.rag-answer[id^="answer-"]');
    if (answer) show(answer.id.slice('answer-'.length), null);
  }, true);
  const syncSend = () => {
    const box = document.querySelector('#rag-question textarea');
    const send = document.getElementById('rag-send');
    if (box && send) send.disabled = !box.value.trim();
  };
  window.ragSyncSend = syncSend;
  document.addEventListener('input', (ev) => {
    if (ev.target instanceof Element && ev.target.closest('#rag-question')) syncSend();
  }, true);
  // The button may mount after this panel, or be re-rendered: keep it in step with the box.
  let queued = false;
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; syncSend(); }); }
  }).observe(document.body, {childList: true, subtree: true});
  syncSend();
}
watch('value', () => window.ragReveal(element));
window.ragReveal(element);
"""

# Before a question is sent: empty the box here and now, in the browser, so that whatever the user
# types next (a second question, 50 ms later) is never wiped by a reply that clears the box.
TAKE_QUESTION_JS = r"""
(question, session) => {
  const box = document.querySelector('#rag-question textarea');
  if (box && box.value === question) {
    box.value = '';
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }
  if (window.ragSyncSend) window.ragSyncSend();
  return [question, session];
}
"""

# Delete asks first; cancelling sends no document, which the handler ignores.
CONFIRM_DELETE_JS = r"""
(chosen, lang, source) => {
  if (!chosen) return [null, lang, source];
  const label = document.querySelector('#rag-doc input');
  const name = label && label.value ? label.value : chosen;
  return [window.confirm('Delete ' + name + ' from the index?') ? chosen : null, lang, source];
}
"""

# The Copy button: the answer shown in the sources panel (the selected one), with its sources.
COPY_JS = r"""
() => {
  const section = document.querySelector('.rag-sources .src-turn:not([hidden])');
  const text = section ? (section.dataset.copy || '') : '';
  const button = document.getElementById('rag-copy');
  const done = (label) => {
    if (!button) return;
    const old = button.dataset.label || button.textContent;
    button.dataset.label = old;
    button.textContent = label;
    setTimeout(() => { button.textContent = old; }, 1500);
  };
  if (!text) { done('Nothing to copy'); return []; }
  const fallback = () => {
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try { document.execCommand('copy'); done('Copied ✓'); } catch (e) { done('Copy failed'); }
    area.remove();
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done('Copied ✓'), fallback);
  } else {
    fallback();
  }
  return [];
}
"""

CSS = r"""
/* The page keeps its width whatever the chat holds (Gradio sizes the container to its content
   otherwise), and nothing inside may push it wider: a phone never scrolls sideways. */
.gradio-container { width: 100% !important; max-width: 1380px !important; margin: 0 auto !important;
  box-sizing: border-box; }
#rag-chat, #rag-chat .message, #rag-chat .message-row { min-width: 0; max-width: 100%; }
#rag-chat .message, .rag-answer, .rag-question { overflow-wrap: anywhere; }
#rag-ask-row { flex-wrap: nowrap !important; }
#rag-ask-row > * { min-width: 0 !important; }
#rag-send { flex: 0 0 auto !important; width: auto; min-width: 64px !important; }
#rag-send:disabled { opacity: 0.55; cursor: not-allowed; }
#rag-chat button.example { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 12px;
  background: var(--block-background-fill); cursor: pointer; text-align: left; }
#rag-chat button.example:hover { border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft); }
#rag-doc-row { align-items: flex-end; }
#rag-delete { align-self: flex-end; margin-bottom: 4px; }
#rag-header { padding: 4px 2px 0; }
#rag-header h1 { font-size: 1.45rem; margin: 0 0 2px; font-weight: 650; }
#rag-header p { margin: 0; color: var(--body-text-color-subdued); font-size: 0.92rem; }
#rag-header .pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.8rem;
  background: var(--color-accent-soft); color: var(--body-text-color); margin-left: 6px; }

/* chat messages */
.rag-answer { line-height: 1.55; border-radius: 6px; }
.rag-answer.selected { border-left: 3px solid var(--color-accent); padding-left: 9px; margin-left: -12px; border-radius: 0; }
.rag-answer a.rag-cite, .rag-answer a[href^="#src-"] {
  display: inline-block; padding: 0 4px; margin: 0 1px; border-radius: 5px; font-size: 0.82em; font-weight: 600;
  line-height: 1.35; text-decoration: none !important; vertical-align: 1px; cursor: pointer;
  background: var(--color-accent-soft); color: var(--color-accent) !important; border: 1px solid var(--color-accent);
}
/* A statement its cited source supports links to the evidence sentence; an unsupported one is marked. */
.rag-answer a.rag-claim[href^="#src-"] {
  display: inline; padding: 0; margin: 0; border: none; background: none; font: inherit; vertical-align: baseline;
  color: inherit !important; text-decoration: underline dotted !important;
}
.rag-unsupported { background: #fff3cd; color: #7a4b00; border-radius: 3px; }
.rag-answer a.rag-cite:hover, .rag-answer a[href^="#src-"]:hover { background: var(--color-accent); color: white !important; }
.rag-meta { margin-top: 6px; font-size: 0.78rem; color: var(--body-text-color-subdued); letter-spacing: 0.01em; }
.rag-error { margin-top: 4px; color: var(--error-text-color, #b91c1c); }
.rag-hint { margin-top: 4px; color: var(--body-text-color-subdued); font-style: italic; }
.rag-cursor { animation: rag-blink 1s steps(2, start) infinite; margin-left: 1px; color: var(--color-accent); }
@keyframes rag-blink { to { visibility: hidden; } }
.rag-pending { color: var(--body-text-color-subdued); font-size: 0.92rem; }
.rag-dot { display: inline-block; width: 6px; height: 6px; margin-right: 3px; border-radius: 50%;
  background: var(--color-accent); animation: rag-bounce 1.2s infinite ease-in-out; }
.rag-dot:nth-child(2) { animation-delay: 0.15s; } .rag-dot:nth-child(3) { animation-delay: 0.3s; margin-right: 8px; }
@keyframes rag-bounce { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }

/* sources panel */
#rag-sources-box { max-height: 640px; overflow-y: auto; padding-right: 4px; }
.rag-sources h3 { margin: 0 0 6px; }
.src-question { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 2px 0 10px; }
.src-question span { text-transform: uppercase; letter-spacing: 0.05em; font-size: 0.72rem; font-weight: 600; margin-right: 4px; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px; margin-bottom: 10px;
  background: var(--block-background-fill); transition: box-shadow 0.2s, border-color 0.2s; }
.src-card header { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; font-size: 0.86rem; }
.src-n { font-weight: 700; color: var(--color-accent); }
.src-names { flex: 1; min-width: 0; display: flex; align-items: baseline; gap: 6px; overflow: hidden; }
.src-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; flex: 0 1 auto; }
.src-file { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 4em; flex: 0 1 auto; }
.src-title + .src-file { font-size: 0.76rem; color: var(--body-text-color-subdued); flex: 0 0 auto; max-width: 50%; }
.src-names > .src-file:only-child { font-weight: 600; }
@media (max-width: 560px) { .src-card header { flex-wrap: wrap; } .src-names { order: 9; flex-basis: 100%; } }
.src-tag { font-size: 0.72rem; text-transform: uppercase; padding: 1px 6px; border-radius: 4px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.src-score { font-size: 0.75rem; color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
/* Whole-pixel lines, and a height of whole lines: scrolled to a line, no line is ever cut in half. */
.src-text { position: relative; font-size: 14px; line-height: 21px; color: var(--body-text-color); max-height: 252px;
  overflow-y: auto; overflow-wrap: anywhere; padding: 0; }
.src-others { margin: 4px 0 10px; }
.src-others > summary { cursor: pointer; font-size: 0.86rem; color: var(--body-text-color-subdued); padding: 4px 2px; }
.src-others .src-card { margin-top: 8px; }
.src-text mark { background: #fde68a; color: #1f2937; padding: 1px 2px; border-radius: 3px; }
.src-card.active { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft);
  animation: rag-flash 1.4s ease-out; }
.src-card.active mark { background: #fbbf24; }
@keyframes rag-flash { 0% { background: var(--color-accent-soft); } 100% { background: var(--block-background-fill); } }
.src-empty { color: var(--body-text-color-subdued); font-size: 0.9rem; padding: 8px 2px; }

/* documents tab */
.rag-stats .stat-row { display: flex; gap: 12px; margin-bottom: 12px; }
.rag-stats .stat { flex: 1; border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 14px;
  background: var(--block-background-fill); }
.rag-stats .stat-num { font-size: 1.6rem; font-weight: 700; }
.rag-stats .stat-line { margin: 4px 0; font-size: 0.9rem; }
.rag-stats code { font-size: 0.82rem; }
.rag-stats details { margin-top: 8px; }
.rag-stats .doc-list { max-height: 260px; overflow-y: auto; margin: 6px 0 0; padding-left: 20px; font-size: 0.88rem; }
.rag-upload ul { margin: 6px 0 0; padding-left: 20px; }
.rag-upload .up-summary { font-weight: 600; }
.rag-upload .up-ok::marker { color: #16a34a; }
.rag-upload .up-bad { color: var(--error-text-color, #b91c1c); }
#rag-copy, #rag-clear { max-width: 150px; }
.rag-upload-help { font-size: 0.82rem; color: var(--body-text-color-subdued); margin: 2px 4px 8px; }
.rag-upload-help code { font-size: 0.78rem; overflow-wrap: anywhere; }
.rag-stats .doc-title { font-weight: 600; }
.rag-stats .doc-file, .rag-stats .doc-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); }
.rag-preview .preview-head { display: flex; align-items: baseline; gap: 8px; margin: 6px 0; }
.rag-preview .preview-text { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 420px; overflow-y: auto;
  font-size: 0.88rem; line-height: 1.5; padding: 8px 10px; border: 1px solid var(--border-color-primary);
  border-radius: 8px; background: var(--block-background-fill); }
"""


def theme() -> gr.themes.Base:
    """A calm theme using only system fonts (the default ones would be fetched from the network)."""
    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
