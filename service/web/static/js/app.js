// The page: choose an article, summarise it, ask questions, and show every
// claim's cited spans as highlights in the article text.

import { ProblemError, apiKey, requestJSON, requestStream, setApiKey } from "./api.js";
import { ArticleText, formatSupport, renderHighlights, scrollWithin, smoothness } from "./spans.js";
import * as store from "./store.js";
import { renderAnswer, renderSummary } from "./views.js";

const $ = (id) => document.getElementById(id);
const ui = {
  sourceDetails: $("source-details"),
  sourceSummary: $("source-summary"),
  sourceForm: $("source-form"),
  text: $("text"),
  file: $("file"),
  title: $("title"),
  storedForm: $("stored-form"),
  stored: $("stored"),
  article: $("article"),
  articleMeta: $("article-meta"),
  selection: $("selection"),
  tools: $("tools"),
  summaryForm: $("summary-form"),
  summaryLive: $("summary-live"),
  summary: $("summary"),
  questionForm: $("question-form"),
  question: $("question"),
  answerLive: $("answer-live"),
  history: $("history"),
  status: $("status"),
  error: $("error"),
  cancel: $("cancel"),
  keyDetails: $("key-details"),
  keyForm: $("key-form"),
  key: $("api-key"),
};

const state = {
  document: null, // the open DocumentDetail (with text)
  article: null, // its ArticleText (code point offsets)
  pinned: null, // the claim last clicked/entered: its highlights stay
  uploaded: null, // exact text of the last uploaded file
  controller: null, // aborts the model call in flight
  listed: [], // the service's stored documents, newest first (GET /v1/documents)
  listing: 0, // bumped per listing request: only the latest one's answer is shown
};

// One page of the listing is plenty for a chooser; older articles stay reachable by API.
const LISTED = 100;

const INTRO = ui.selection.textContent.trim();

// ---- notices: errors, busy state -------------------------------------------------

function showError(error) {
  const message = error instanceof ProblemError ? error.message : `Something went wrong: ${error.message || error}`;
  ui.error.textContent = message;
  ui.error.hidden = false;
  if (error instanceof ProblemError && error.problem.status === 401) {
    // The service wants a key: offer the field right away.
    ui.keyDetails.open = true;
    ui.key.focus();
  }
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

/**
 * Run `work` with the page busy: one call at a time, a visible status, Stop.
 * What `work` returns is announced to screen readers when it is done.
 */
async function busy(message, work) {
  if (state.controller) return; // one call at a time: later submissions are ignored
  clearError();
  state.controller = new AbortController();
  document.body.dataset.busy = "true";
  ui.tools.setAttribute("aria-busy", "true");
  // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
  for (const button of document.querySelectorAll("form button")) button.setAttribute("aria-disabled", "true");
  ui.status.classList.remove("quiet");
  ui.status.textContent = message;
  ui.status.classList.add("working");
  ui.cancel.hidden = false;
  try {
    const done = await work(state.controller.signal);
    ui.status.textContent = done || "";
    ui.status.classList.add("quiet");
  } catch (error) {
    if (error.name === "AbortError") {
      ui.status.textContent = "Stopped.";
    } else {
      ui.status.textContent = "";
      showError(error);
    }
  } finally {
    state.controller = null;
    delete document.body.dataset.busy;
    ui.tools.removeAttribute("aria-busy");
    ui.status.classList.remove("working");
    ui.cancel.hidden = true;
    refreshButtons();
  }
}

function refreshButtons() {
  const open = Boolean(state.document);
  for (const button of document.querySelectorAll("form button")) button.removeAttribute("aria-disabled");
  $("summarize").disabled = !open;
  $("ask").disabled = !open;
  ui.storedForm.querySelector("button").disabled = state.listed.length === 0;
}

// ---- choosing an article ------------------------------------------------------------

function storedLabel(d) {
  const label = d.title || store.previewOf(d.id) || d.url || `Untitled, stored ${d.created_at.slice(0, 16).replace("T", " ")}`;
  return `${label} (${d.chars} characters)`;
}

/** Ask the service which articles it holds and offer them, newest first. */
async function refreshStored() {
  const asked = ++state.listing;
  let options;
  try {
    const page = await requestJSON(`/v1/documents?limit=${LISTED}`);
    if (asked !== state.listing) return; // a later listing is under way
    state.listed = page.documents;
    options = page.documents.map((d) => new Option(storedLabel(d), d.id));
    if (!options.length) options.push(new Option("No stored articles yet", ""));
    if (page.next_cursor) options.push(new Option(`Only the ${LISTED} newest are listed`, "", false, false));
  } catch (error) {
    if (asked !== state.listing) return;
    // Not worth an error notice nobody asked for: the chooser says why it is empty.
    state.listed = [];
    const why = error instanceof ProblemError && error.problem.status === 401 ? "Enter the API key to list stored articles" : "Stored articles cannot be listed now";
    options = [new Option(why, "")];
  }
  for (const option of options) option.disabled = !option.value;
  ui.stored.replaceChildren(...options);
  if (state.document && state.listed.some((d) => d.id === state.document.id)) ui.stored.value = state.document.id;
  refreshButtons();
}

function openDocument(detail) {
  state.document = detail;
  state.article = new ArticleText(detail.text);
  state.pinned = null;
  clearHighlights();
  ui.articleMeta.textContent = `· ${detail.title ? `${detail.title} · ` : ""}${detail.chars} characters, ${detail.sentences} sentences`;
  // The article is chosen: fold its forms away so the summary and questions move up.
  ui.sourceDetails.open = false;
  ui.sourceSummary.textContent = "Use another article";
  ui.summary.replaceChildren();
  ui.summaryLive.hidden = true;
  ui.history.replaceChildren(...store.listAnswers(detail.id).map(renderAnswer));
  store.rememberDocument(detail.id, detail.text.trim().slice(0, 60));
  if (state.listed.some((d) => d.id === detail.id)) ui.stored.value = detail.id;
  refreshButtons();
  window.__document = detail;
}

async function storeArticle(signal) {
  // Textareas turn CRLF into LF: post an uploaded file's exact text unless it was edited.
  const pasted = ui.text.value;
  const text = state.uploaded !== null && state.uploaded.replace(/\r\n?/g, "\n") === pasted ? state.uploaded : pasted;
  const title = ui.title.value.trim() || undefined;
  const created = await requestJSON("/v1/documents", { method: "POST", body: { text, title }, signal });
  // Highlights are drawn on the service's own copy of the text: the offsets refer to it.
  openDocument(await requestJSON(`/v1/documents/${encodeURIComponent(created.id)}`, { signal }));
  await refreshStored();
}

async function openStored(id, signal) {
  try {
    openDocument(await requestJSON(`/v1/documents/${encodeURIComponent(id)}`, { signal }));
  } catch (error) {
    if (error instanceof ProblemError && error.problem.status === 404) {
      store.forgetDocument(id); // deleted on the server: forget its questions too
      await refreshStored();
    }
    throw error;
  }
}

async function readUpload() {
  const file = ui.file.files[0];
  if (!file) return;
  if (file.type && !file.type.startsWith("text/")) {
    showError(new ProblemError({ title: "Not a text file", detail: `${file.name} is ${file.type}; choose a plain-text (.txt) file` }));
    return;
  }
  state.uploaded = await file.text();
  ui.file.value = ""; // so choosing the same file again still fires "change"
  ui.text.value = state.uploaded;
  if (!ui.title.value.trim()) ui.title.value = file.name.replace(/\.txt$/i, "");
  await busy(`Storing ${file.name}…`, storeArticle);
}

// ---- summary and answers -----------------------------------------------------------

/** Show streamed text in a live region while the model writes. */
function streamInto(live) {
  live.textContent = "";
  live.hidden = false;
  live.classList.add("streaming");
  return (text) => {
    live.textContent += text;
  };
}

async function summarize(signal) {
  const options = {
    length: $("length").value,
    format: $("format").value,
    focus: $("focus").value.trim() || undefined,
  };
  ui.summary.replaceChildren();
  state.pinned = null;
  clearHighlights();
  const path = `/v1/documents/${encodeURIComponent(state.document.id)}/summary`;
  try {
    const summary = await requestStream(path, options, streamInto(ui.summaryLive), signal);
    window.__lastResult = window.__lastSummary = summary;
    renderSummary(ui.summary, summary, options.format);
    const count = summary.sentences.length;
    return `Summary ready: ${count} ${count === 1 ? "sentence" : "sentences"}. Tab to one to see its sources.`;
  } finally {
    // The draft is not verified text: it goes, whether the result came or not.
    ui.summaryLive.hidden = true;
    ui.summaryLive.classList.remove("streaming");
  }
}

async function ask(signal) {
  const question = ui.question.value.trim();
  const id = state.document.id;
  const path = `/v1/documents/${encodeURIComponent(id)}/answers`;
  try {
    // The question goes as typed: the service reports an empty one as a problem.
    const answer = await requestStream(path, { question }, streamInto(ui.answerLive), signal);
    window.__lastResult = window.__lastAnswer = answer;
    store.rememberAnswer(id, answer);
    const item = renderAnswer(answer);
    ui.history.prepend(item);
    ui.question.value = "";
    // Show the new answer's evidence at once, scrolling the article box only.
    const node = item.querySelector(".claim");
    if (node) highlight(node, { pin: true, scroll: "box" });
    return answer.answerable ? `Answer: ${answer.answer}` : "The article does not say.";
  } finally {
    ui.answerLive.hidden = true;
    ui.answerLive.classList.remove("streaming");
  }
}

// ---- highlights ------------------------------------------------------------------------

function clearHighlights() {
  if (state.article) renderHighlights(ui.article, state.article, []);
  for (const node of document.querySelectorAll(".claim[aria-pressed='true']")) node.setAttribute("aria-pressed", "false");
  ui.selection.textContent = state.article ? INTRO : "";
}

/**
 * Highlight a claim's citations in the article. scroll: "page" brings the first
 * highlight into view (click, Enter); "box" scrolls only the article's own box
 * (hover, focus) so the page does not jump under the pointer.
 */
function highlight(node, { pin = false, scroll = "box" } = {}) {
  if (!state.article || !node.claim) return;
  const { citations, label, answer } = node.claim;
  const marks = renderHighlights(ui.article, state.article, citations, answer);
  for (const other of document.querySelectorAll(".claim[aria-pressed='true']")) other.setAttribute("aria-pressed", "false");
  if (pin) state.pinned = node;
  if (state.pinned) state.pinned.setAttribute("aria-pressed", "true");
  const supports = citations.map((c) => formatSupport(c.support)).join(", ");
  const passages = citations.length === 1 ? "1 passage" : `${citations.length} passages`;
  ui.selection.textContent = `${label} cites ${passages} · support ${supports}`;
  if (!marks.length) return;
  if (scroll === "page") marks[0].scrollIntoView({ block: "center", behavior: smoothness() });
  else scrollWithin(ui.article, marks[0]);
}

/** Back to the pinned claim's highlights (or none) when a hover or focus ends. */
function restore() {
  if (state.pinned?.isConnected) highlight(state.pinned);
  else {
    state.pinned = null;
    clearHighlights();
  }
}

const claimOf = (target) => (target instanceof Element ? target.closest(".claim") : null);

function wireClaims(root) {
  root.addEventListener("mouseover", (event) => {
    const node = claimOf(event.target);
    if (node && node !== claimOf(event.relatedTarget)) highlight(node);
  });
  root.addEventListener("mouseout", (event) => {
    const node = claimOf(event.target);
    if (node && node !== claimOf(event.relatedTarget)) restore();
  });
  root.addEventListener("focusin", (event) => {
    const node = claimOf(event.target);
    if (node) highlight(node);
  });
  root.addEventListener("focusout", (event) => {
    if (claimOf(event.target) && !claimOf(event.relatedTarget)) restore();
  });
  root.addEventListener("click", (event) => {
    const node = claimOf(event.target);
    if (node) highlight(node, { pin: true, scroll: "page" });
  });
  root.addEventListener("keydown", (event) => {
    const node = claimOf(event.target);
    if (node && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault(); // Space would scroll the page
      highlight(node, { pin: true, scroll: "page" });
    }
  });
}

// ---- wiring ------------------------------------------------------------------------------

async function start() {
  ui.sourceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy("Storing the article…", storeArticle);
  });
  ui.text.addEventListener("input", () => {
    if (!ui.text.value) state.uploaded = null;
  });
  ui.file.addEventListener("change", () => readUpload().catch(showError));
  ui.storedForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (ui.stored.value) busy("Opening the stored article…", (signal) => openStored(ui.stored.value, signal));
  });
  ui.summaryForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.document) busy("Summarizing: the model is writing…", summarize);
  });
  ui.questionForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.document) busy("Answering: the model is reading the article…", ask);
  });
  ui.cancel.addEventListener("click", () => state.controller?.abort());
  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(ui.key.value.trim());
    ui.key.value = "";
    ui.keyDetails.open = false;
    clearError();
    ui.status.textContent = apiKey() ? "The key is set for this tab." : "The key is cleared.";
    refreshStored();
  });
  wireClaims(ui.tools);

  refreshButtons();
  await refreshStored();
  // Reopen the article of the last visit, quietly: nobody asked for it, so a
  // failure (deleted on the server, say) is no error to show.
  const last = store.currentDocument();
  if (last) {
    busy("Opening the last article…", (signal) => openStored(last, signal).catch(() => {}));
  }
  document.body.dataset.ready = "true";
}

start();
